"""Two programmes on one broker, each in its own topic namespace: the relay, the consumers, dead letters
and the ops tools of one never see the other's events, offsets or dead letters."""

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from shared.db import create_pool, migrate
from shared.events.topics import topic_specs
from shared.messaging import outbox
from shared.messaging.consumer import ConsumerRunner
from shared.messaging.kafka import ensure_topics
from shared.messaging.namespace import Namespace
from shared.messaging.outbox import OutboxRelay
from cxc.ops import dlq
from shared.messaging.lag import lag_rows
from shared.messaging.reader import read_all
from tests.support.payloads import participant_registered
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


async def programme(database_url: str, schema: str):
    pool = await create_pool(database_url, schema, max_size=4)
    await migrate(pool, schema, None)
    await pool.execute("CREATE TABLE effects (subject text NOT NULL)")
    return pool


async def record(pool, subject: str) -> str:
    async with pool.acquire() as conn, conn.transaction():
        return (await outbox.record(conn, participant_registered(subject), source="/test")).id


async def test_programmes_in_two_namespaces_share_a_broker_without_seeing_each_other(database_url, kafka_bootstrap):
    run = uuid.uuid4().hex[:8]  # the broker may be shared by the whole test session
    acme, beta = Namespace(f"acme-{run}"), Namespace(f"beta-{run}.staging")
    for ns in (acme, beta):
        await ensure_topics(kafka_bootstrap, topic_specs(), namespace=ns)
    pools = {ns: await programme(database_url, f"p_{i}") for i, ns in enumerate((acme, beta))}
    tasks = []
    try:
        # Same subject, so both events take the same partition of a topic they might share: beta's first.
        subject = f"same-key-{run}"
        beta_event = await record(pools[beta], subject)
        acme_event = await record(pools[acme], subject)
        poison = await record(pools[acme], f"poison-{run}")
        for i, (ns, pool) in enumerate(pools.items()):
            # Relays of different services: each takes its own advisory lock in the one database.
            relay = OutboxRelay(pool, service=f"relay-{i}", bootstrap=kafka_bootstrap, timeout_s=5,
                                poll_interval_s=0.1, namespace=ns)
            tasks.append(asyncio.create_task(relay.run()))

        async def apply(pool):
            async def handler(conn, envelope):
                if envelope.subject.startswith("poison"):
                    raise ValueError("cannot apply")
                await conn.execute("INSERT INTO effects VALUES ($1)", envelope.id)
            return handler

        # One consumer group name for both programmes: the namespace keeps their offsets apart too.
        for ns, pool in pools.items():
            runner = ConsumerRunner("projection", pool, {"participant.registered": await apply(pool)},
                                    topics=["cxc.participants"], bootstrap=kafka_bootstrap, timeout_s=5,
                                    max_retries=1, retry_base_s=0.01, session_timeout_ms=6000, namespace=ns)
            tasks.append(asyncio.create_task(runner.run()))

        async def applied(ns):
            return {r["subject"] for r in await pools[ns].fetch("SELECT subject FROM effects")}

        assert await eventually(lambda: applied(acme), timeout=40) == {acme_event}
        assert await eventually(lambda: applied(beta), timeout=40) == {beta_event}
        [dead] = await eventually(lambda: dlq.dead_letters(kafka_bootstrap, namespace=acme), timeout=20)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for pool in pools.values():
            await pool.close()

    # On the broker: the registry's names under each namespace, and groups named the same way.
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        topics = set(await admin.list_topics())
        groups = {g[0] for g in await admin.list_consumer_groups()}
    finally:
        await admin.close()
    assert {f"acme-{run}.cxc.participants", f"beta-{run}.staging.cxc.participants.dlq"} <= topics
    assert {f"acme-{run}.projection", f"beta-{run}.staging.projection"} <= groups

    # The ops tools work in one namespace and speak plain names.
    [only] = await read_all(kafka_bootstrap, ["cxc.participants"], keep=lambda m: m.subject == subject, namespace=beta)
    assert only.event_id == beta_event and only.topic == "cxc.participants"
    assert dlq.summary(dead)["event_id"] == poison and dead.ref.startswith("cxc.participants.dlq:")
    assert dead.header("cxc_original_topic") == "cxc.participants"
    assert await dlq.dead_letters(kafka_bootstrap, namespace=beta) == []
    [replayed] = await dlq.replay(kafka_bootstrap, [dead], namespace=acme)
    assert replayed["to"].startswith("cxc.participants:")
    replays = await read_all(kafka_bootstrap, ["cxc.participants"], keep=lambda m: m.event_id == poison, namespace=acme)
    assert len(replays) == 2, "the original and its replay, both in acme's topic"
    assert await read_all(kafka_bootstrap, ["cxc.participants"], keep=lambda m: m.event_id == poison,
                          namespace=beta) == []
    assert {r["group"] for r in await lag_rows(kafka_bootstrap, namespace=beta)} == {"projection"}
