"""The outbox relay against real PostgreSQL and a real Kafka-API broker."""

import asyncio
import json
import uuid

import pytest

from shared.messaging import outbox
from shared.messaging.kafka import ensure_topics
from shared.messaging.outbox import OutboxRelay
from tests.support.topics import read_all
from tests.support.payloads import participant_registered
from tests.support.polling import eventually
from tests.support.database import kernel_pool

pytestmark = pytest.mark.integration
# This test's own advisory locks: the PostgreSQL server may be shared with other tests' running relays.
MY_ADVISORY_LOCKS = ("FROM pg_locks WHERE locktype = 'advisory' AND granted "
                     "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")


@pytest.fixture
async def pool(database_url):
    async with kernel_pool(database_url, "relaytest") as pool:
        yield pool


async def unpublished(pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")


async def start_relay(pool, bootstrap, **kw):
    relay = OutboxRelay(pool, service="relaytest", bootstrap=bootstrap, timeout_s=2.0, poll_interval_s=0.2, **kw)
    return asyncio.create_task(relay.run())


async def stop(task):
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_relay_publishes_one_aggregates_events_in_commit_order(pool, kafka_bootstrap, topic_namespace):
    await ensure_topics(kafka_bootstrap, [("cxc.participants", 4)], namespace=topic_namespace)
    pid = str(uuid.uuid4())
    ids = []
    for _ in range(5):
        async with pool.acquire() as conn, conn.transaction():
            ids.append((await outbox.record(conn, participant_registered(pid), source="/test")).id)
    relay = await start_relay(pool, kafka_bootstrap, namespace=topic_namespace)
    try:
        await eventually(lambda: _zero(pool))
        topic = topic_namespace.topic("cxc.participants")
        records = [r for r in await read_all(kafka_bootstrap, topic, expect=5) if r.key == pid.encode()]
        assert [json.loads(r.value)["id"] for r in records] == ids
        assert len({r.partition for r in records}) == 1
    finally:
        await stop(relay)


async def _zero(pool):
    return await unpublished(pool) == 0


async def test_rolled_back_transaction_publishes_nothing(pool, kafka_bootstrap):
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await outbox.record(conn, participant_registered("never"), source="/test")
            raise RuntimeError("the business change failed")
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_relay_keeps_the_event_while_the_broker_is_stopped_and_publishes_it_after(pool, embedded_broker):
    await ensure_topics(embedded_broker.bootstrap, [("cxc.participants", 4)])
    relay = await start_relay(pool, embedded_broker.bootstrap)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await outbox.record(conn, participant_registered("warm-up"), source="/test")
        await eventually(lambda: _zero(pool))

        embedded_broker.pause()  # SIGSTOP: the broker accepts connections but answers nothing
        try:
            async with pool.acquire() as conn, conn.transaction():
                kept = await outbox.record(conn, participant_registered("while-down"), source="/test")
            await asyncio.sleep(5)  # > 2 publish timeouts of the relay
            assert await unpublished(pool) == 1, "the event must stay in the outbox while the broker is away"
        finally:
            embedded_broker.resume()  # SIGCONT

        await eventually(lambda: _zero(pool), timeout=30)
        records = await read_all(embedded_broker.bootstrap, "cxc.participants", expect=2)
        assert kept.id in {json.loads(r.value)["id"] for r in records}
    finally:
        await stop(relay)


async def test_only_one_replica_relays_at_a_time(pool, kafka_bootstrap, topic_namespace):
    await ensure_topics(kafka_bootstrap, [("cxc.participants", 4)], namespace=topic_namespace)
    first = await start_relay(pool, kafka_bootstrap, namespace=topic_namespace)
    second = await start_relay(pool, kafka_bootstrap, namespace=topic_namespace)
    try:
        for i in range(20):
            async with pool.acquire() as conn, conn.transaction():
                await outbox.record(conn, participant_registered(f"replica-{i}"), source="/test")
        await eventually(lambda: _zero(pool))
        locks = await pool.fetchval(f"SELECT count(*) {MY_ADVISORY_LOCKS}")
        assert locks == 1
    finally:
        await stop(first)
        await stop(second)


async def test_relay_reconnects_when_its_database_connection_dies(pool, kafka_bootstrap, topic_namespace):
    await ensure_topics(kafka_bootstrap, [("cxc.participants", 4)], namespace=topic_namespace)
    relay = await start_relay(pool, kafka_bootstrap, namespace=topic_namespace)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await outbox.record(conn, participant_registered("before"), source="/test")
        await eventually(lambda: _zero(pool))
        # What a PostgreSQL restart does to the relay's session (and its advisory lock).
        killed = await pool.fetchval(f"SELECT count(pg_terminate_backend(pid)) {MY_ADVISORY_LOCKS}")
        assert killed >= 1
        async with pool.acquire() as conn, conn.transaction():
            await outbox.record(conn, participant_registered("after"), source="/test")
        await eventually(lambda: _zero(pool), timeout=30)
    finally:
        await stop(relay)


async def test_published_events_are_structured_cloudevents_and_an_old_format_row_goes_out_in_the_new_one(
    pool, kafka_bootstrap, topic_namespace
):
    """The relay sends what was stored, with ce_ headers derived from that very body; a row recorded before
    the extension attributes got their spec names is sent with the new names (the SDK refuses the old)."""
    from cloudevents.core.bindings import kafka as ce_kafka
    from cloudevents.core.formats.json import JSONFormat

    from shared.events import decode, new_envelope

    await ensure_topics(kafka_bootstrap, [("cxc.participants", 4)], namespace=topic_namespace)
    pid = str(uuid.uuid4())
    async with pool.acquire() as conn, conn.transaction():
        current = await outbox.record(conn, participant_registered(pid), source="/test", correlation_id="corr-new")
        old = new_envelope(participant_registered(pid), source="/test", correlation_id="corr-old",
                           causation_id=current.id)
        legacy = json.loads(old.to_json())
        del legacy["dataschema"]
        for new_name, old_name in (("schemaversion", "schema_version"), ("correlationid", "correlation_id"),
                                   ("causationid", "causation_id")):
            legacy[old_name] = legacy.pop(new_name)
        await conn.execute(
            "INSERT INTO outbox (event_id, topic, key, event_type, envelope) VALUES ($1, $2, $3, $4, $5)",
            old.id, "cxc.participants", pid, old.type, json.dumps(legacy),
        )
    relay = await start_relay(pool, kafka_bootstrap, namespace=topic_namespace)
    try:
        await eventually(lambda: _zero(pool))
        records = [r for r in await read_all(kafka_bootstrap, topic_namespace.topic("cxc.participants"), expect=2)
                   if r.key == pid.encode()]
    finally:
        await stop(relay)
    assert [decode(r.value, r.headers) for r in records] == [current, old]
    for record in records:
        headers, body = dict(record.headers), json.loads(record.value)
        assert headers.pop("content-type") == b"application/cloudevents+json; charset=utf-8"
        assert headers == {f"ce_{k}": str(v).encode() for k, v in body.items() if k not in ("data", "datacontenttype")}
        event = ce_kafka.from_structured(ce_kafka.KafkaMessage(dict(record.headers), record.key, record.value),
                                         JSONFormat())
        assert event.get_dataschema() == "urn:cxc:event:participant.registered:v1"
    assert json.loads(records[1].value)["causationid"] == current.id and "causation_id" not in records[1].value.decode()
