"""``cxc dlq`` against the real broker: list, show, replay after a fix (applied once), purge."""

import asyncio
import os
import subprocess
import sys
import uuid
from types import SimpleNamespace

import pytest

from shared.db import create_pool, migrate
from shared.events import new_envelope
from shared.events.topics import topic_specs
from shared.messaging.consumer import ConsumerRunner
from shared.messaging.kafka import ensure_topics
from cxc.ops import dlq
from cxc.ops.trace import trace_rows
from tests.ops_helpers import Captured
from tests.support.payloads import participant_registered
from tests.support.polling import eventually
from tests.support.topics import produce

pytestmark = pytest.mark.integration
TOPIC = "cxc.participants"


@pytest.fixture
async def projection(database_url, kafka_bootstrap, topic_namespace):
    """A projection consumer whose handler has a bug for subjects starting with 'poison' until fixed."""
    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=topic_namespace)
    pool = await create_pool(database_url, "dlqtest", max_size=4)
    await migrate(pool, "dlqtest", None)
    # No unique constraint: an event applied twice would show as two rows.
    await pool.execute("CREATE TABLE projection (event_id uuid NOT NULL, subject text NOT NULL)")
    bug = {"present": True}

    async def project(conn, envelope):
        if bug["present"] and envelope.subject.startswith("poison"):
            raise ValueError(f"cannot project {envelope.subject}")
        await conn.execute("INSERT INTO projection VALUES ($1, $2)", envelope.id, envelope.subject)

    runner = ConsumerRunner("dlqtest-projection", pool, {"participant.registered": project}, topics=[TOPIC],
                            bootstrap=kafka_bootstrap, timeout_s=5, max_retries=1, retry_base_s=0.01,
                            session_timeout_ms=6000, namespace=topic_namespace)
    task = asyncio.create_task(runner.run())

    async def rows(subject):
        return await pool.fetch("SELECT event_id FROM projection WHERE subject = $1", subject)

    yield SimpleNamespace(rows=rows, bug=bug)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await pool.close()


async def test_a_poisoned_event_is_listed_and_after_the_fix_a_replay_projects_it_exactly_once(
    projection, kafka_bootstrap, topic_namespace
):
    ns = topic_namespace
    poison = f"poison-{uuid.uuid4()}"
    bad = new_envelope(participant_registered(poison), source="/test", correlation_id="req-poison")
    good = f"good-{uuid.uuid4()}"
    await produce(kafka_bootstrap, [bad, new_envelope(participant_registered(good), source="/test")], namespace=ns)
    await eventually(lambda: projection.rows(good), timeout=30)

    [dead] = await eventually(lambda: dlq.dead_letters(kafka_bootstrap, namespace=ns), timeout=20)
    row = dlq.summary(dead)
    assert row["event_id"] == bad.id and row["original_topic"] == TOPIC and row["correlation_id"] == "req-poison"
    assert (row["error"], row["stage"], row["consumer"]) == ("ValueError", "handler", "dlqtest-projection")
    assert f"cannot project {poison}" in row["message"]
    [shown] = await dlq.fetch(kafka_bootstrap, [dead.ref], namespace=ns)
    assert shown.envelope["id"] == bad.id and "ValueError" in shown.header("cxc_error_trace")
    assert await projection.rows(poison) == []
    original, letter = sorted(await trace_rows(kafka_bootstrap, "req-poison", namespace=ns),
                              key=lambda r: bool(r["dead_letter"]))
    assert original["event_id"] == letter["event_id"] == bad.id and original["dead_letter"] is None
    assert letter["dead_letter"] == "ValueError" and letter["ref"] == dead.ref

    projection.bug["present"] = False
    [replayed] = await dlq.replay(kafka_bootstrap, [dead], namespace=ns)
    assert replayed["to"].startswith(f"{TOPIC}:")
    await eventually(lambda: projection.rows(poison), timeout=30)
    # An operator replays it again: the consumer must skip it. A later event of the same key (same
    # partition, so handled after the replay) shows the replay was consumed.
    await dlq.replay(kafka_bootstrap, [dead], namespace=ns)
    later = new_envelope(participant_registered(poison), source="/test")
    await produce(kafka_bootstrap, [later], namespace=ns)
    await eventually(lambda: _has(projection, poison, later.id), timeout=30)
    assert [r["event_id"] for r in await projection.rows(poison)].count(uuid.UUID(bad.id)) == 1


async def _has(projection, subject, event_id):
    return uuid.UUID(event_id) in {r["event_id"] for r in await projection.rows(subject)}


async def test_undecodable_dead_letters_are_listed_with_their_decode_error(projection, kafka_bootstrap,
                                                                         topic_namespace):
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    await (await producer.send(topic_namespace.topic(TOPIC), b"{not json", key=b"k1"))
    await producer.stop()
    [dead] = await eventually(lambda: dlq.dead_letters(kafka_bootstrap, [TOPIC], namespace=topic_namespace), timeout=30)
    row = dlq.summary(dead)
    assert (row["type"], row["stage"], row["event_id"]) == ("undecodable", "decode", None)
    assert "not JSON" in row["message"]


async def test_purge_needs_confirmation_and_hides_only_what_was_confirmed(kafka_bootstrap, topic_namespace):
    ns = topic_namespace
    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=ns)
    dead = [new_envelope(participant_registered(str(uuid.uuid4())), source="/test") for _ in range(3)]
    await _dead_letter(kafka_bootstrap, dead, ns)
    assert await dlq.purge(kafka_bootstrap, None, lambda n, names: False, namespace=ns) is None
    assert len(await dlq.dead_letters(kafka_bootstrap, namespace=ns)) == 3

    asked = []
    assert await dlq.purge(kafka_bootstrap, [TOPIC], lambda n, names: asked.append((n, names)) or True,
                           namespace=ns) == 3
    assert asked == [(3, [f"{TOPIC}.dlq"])]
    assert await dlq.dead_letters(kafka_bootstrap, namespace=ns) == []
    with pytest.raises(LookupError, match="was purged"):
        await dlq.fetch(kafka_bootstrap, [await _any_ref(kafka_bootstrap, ns)], namespace=ns)

    newer = new_envelope(participant_registered(str(uuid.uuid4())), source="/test")
    await _dead_letter(kafka_bootstrap, [newer], ns)
    assert [m.event_id for m in await dlq.dead_letters(kafka_bootstrap, namespace=ns)] == [newer.id]
    assert await dlq.purge(kafka_bootstrap, None, lambda n, names: True, namespace=ns) == 1
    assert await dlq.purge(kafka_bootstrap, None, lambda n, names: True, namespace=ns) == 0


async def _any_ref(bootstrap, namespace):
    from shared.messaging.reader import read_all

    [first, *_] = await read_all(bootstrap, [f"{TOPIC}.dlq"], namespace=namespace)
    return first.ref


async def _dead_letter(bootstrap, envelopes, namespace):
    """Write dead letters as the consumer runner does (original record plus error headers)."""
    from aiokafka import AIOKafkaProducer

    from shared.events import encode

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for env in envelopes:
            key, value, headers = encode(env)
            headers += [("cxc_error_class", b"ValueError"), ("cxc_original_topic", TOPIC.encode())]
            await (await producer.send(namespace.topic(f"{TOPIC}.dlq"), value, key=key, headers=headers))
    finally:
        await producer.stop()


def test_the_purge_command_asks_and_does_nothing_without_a_yes(kafka_bootstrap, topic_namespace):
    # The CLI finds the namespace in CXC_TOPIC_NAMESPACE, as the services do.
    ns = topic_namespace
    asyncio.run(ensure_topics(kafka_bootstrap, topic_specs(), namespace=ns))
    asyncio.run(_dead_letter(kafka_bootstrap, [new_envelope(participant_registered("p1"), source="/test")], ns))
    env = {**os.environ, "CXC_KAFKA_BOOTSTRAP": kafka_bootstrap}
    cli = [sys.executable, "-m", "cxc.cli", "dlq"]
    refused = subprocess.run([*cli, "purge"], input="no\n", capture_output=True, text=True, timeout=60, env=env)
    assert refused.returncode == 1 and "Type 'purge' to confirm" in refused.stdout + refused.stderr
    assert len(asyncio.run(dlq.dead_letters(kafka_bootstrap, namespace=ns))) == 1
    confirmed = subprocess.run([*cli, "purge"], input="purge\n", capture_output=True, text=True, timeout=60, env=env)
    assert confirmed.returncode == 0 and "purged 1 dead letters" in confirmed.stderr
    listed = subprocess.run([*cli, "list", "--json"], capture_output=True, text=True, timeout=60, env=env)
    assert listed.stdout.strip() == ""


async def test_replay_command_rejects_a_reference_to_nothing(kafka_bootstrap, topic_namespace):
    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=topic_namespace)
    out = Captured()
    with pytest.raises(LookupError, match="does not exist"):
        await dlq.replay_cmd(kafka_bootstrap, [f"{TOPIC}.dlq:0:99"], out, namespace=topic_namespace)
    with pytest.raises(LookupError, match="not a dead-letter topic"):
        await dlq.replay_cmd(kafka_bootstrap, [f"{TOPIC}:0:0"], out, namespace=topic_namespace)
