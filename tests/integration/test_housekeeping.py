"""Housekeeping on real PostgreSQL (and a real broker where events travel): it prunes exactly the expired
rows, dedupe holds within the marker horizon, services run it as their periodic job, reporting's
applied_events are never touched, and `cxc dlq replay` refuses events older than the horizon."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from services.registration.bootstrap import build as build_registration
from services.registration.settings import RegistrationSettings
from services.reporting.bootstrap import build as build_reporting
from services.reporting.settings import ReportingSettings
from shared.events import encode, new_envelope
from shared.events.topics import topic_specs
from shared.housekeeping import prune_all, runtime_prunings
from shared.messaging.consumer import ConsumerRunner
from shared.messaging.kafka import ensure_topics
from cxc.infra.embedded import free_port
from cxc.ops import dlq
from shared.settings import ServiceSettings
from tests.support.topics import read_all
from tests.support.payloads import participant_registered
from tests.support.polling import eventually
from tests.ops_helpers import Captured
from tests.support.database import kernel_pool
from tests.support.topics import produce

pytestmark = pytest.mark.integration
TOPIC = "cxc.participants"
DAY = timedelta(days=1)


@pytest.fixture
async def pool(database_url):
    # No unique constraint: an event applied twice shows as two rows.
    async with kernel_pool(database_url, "housekeeping", "CREATE TABLE effects (event_id uuid NOT NULL)") as pool:
        yield pool


async def add_outbox_row(pool, *, age: timedelta, published_age: timedelta | None) -> str:
    event_id = str(uuid.uuid4())
    await pool.execute(
        """INSERT INTO outbox (event_id, topic, key, event_type, envelope, created_at, published_at)
           VALUES ($1, 'cxc.participants', 'k', 'participant.registered', '{}', now() - $2::interval,
                   now() - $3::interval)""",
        event_id, age, published_age,
    )
    return event_id


async def add_marker(pool, *, age: timedelta, consumer: str = "c") -> str:
    event_id = str(uuid.uuid4())
    await pool.execute(
        """INSERT INTO processed_events (consumer, event_id, event_type, topic, kafka_partition, kafka_offset,
                                         processed_at)
           VALUES ($1, $2, 'participant.registered', 'cxc.participants', 0, 0, now() - $3::interval)""",
        consumer, event_id, age,
    )
    return event_id


async def ids(pool, table: str) -> set[str]:
    return {str(r["event_id"]) for r in await pool.fetch(f"SELECT event_id FROM {table}")}


async def test_pruning_removes_old_published_rows_and_old_markers_and_nothing_else(pool):
    settings = ServiceSettings(outbox_retention_days=7, processed_events_retention_days=30)
    old_published = [await add_outbox_row(pool, age=10 * DAY, published_age=10 * DAY) for _ in range(5)]
    # `cxc run` replays outboxes by resetting published_at: age counts from creation, not publication.
    replayed = await add_outbox_row(pool, age=10 * DAY, published_age=timedelta(0))
    never_published = await add_outbox_row(pool, age=60 * DAY, published_age=None)
    recent = await add_outbox_row(pool, age=6 * DAY, published_age=6 * DAY)
    old_markers = [await add_marker(pool, age=31 * DAY, consumer=f"c{i}") for i in range(3)]
    young_marker = await add_marker(pool, age=29 * DAY)

    counts = await prune_all(pool, runtime_prunings(settings, publishes=True), service="test", batch_size=2)

    assert counts == {"outbox": len(old_published) + 1, "processed_events": len(old_markers)}
    assert await ids(pool, "outbox") == {never_published, recent}
    assert await ids(pool, "processed_events") == {young_marker}
    assert replayed not in await ids(pool, "outbox")


async def test_a_service_that_does_not_publish_leaves_its_outbox_alone(pool):
    settings = ServiceSettings()
    kept = await add_outbox_row(pool, age=30 * DAY, published_age=30 * DAY)
    await prune_all(pool, runtime_prunings(settings, publishes=False), service="test", batch_size=10)
    assert await ids(pool, "outbox") == {kept}


async def test_after_pruning_a_redelivered_event_within_the_horizon_is_still_deduplicated(
    pool, kafka_bootstrap, topic_namespace
):
    await ensure_topics(kafka_bootstrap, [(TOPIC, 2), (f"{TOPIC}.dlq", 2)], namespace=topic_namespace)

    async def record_effect(conn, envelope):
        await conn.execute("INSERT INTO effects VALUES ($1)", envelope.id)

    runner = ConsumerRunner(
        f"hk-{uuid.uuid4().hex[:8]}", pool, {"participant.registered": record_effect}, topics=[TOPIC],
        bootstrap=kafka_bootstrap, timeout_s=5, session_timeout_ms=6000, namespace=topic_namespace,
    )
    task = asyncio.create_task(runner.run())
    try:
        within, beyond = (new_envelope(participant_registered(str(uuid.uuid4())), source="/test") for _ in range(2))
        await produce(kafka_bootstrap, [within, beyond], namespace=topic_namespace)
        await eventually(lambda: _count_is(2, pool, "SELECT count(*) FROM effects"), timeout=30)
        # Age the markers: one is inside the 30-day horizon, the other past it.
        await pool.execute("UPDATE processed_events SET processed_at = now() - interval '29 days' WHERE event_id = $1",
                           within.id)
        await pool.execute("UPDATE processed_events SET processed_at = now() - interval '31 days' WHERE event_id = $1",
                           beyond.id)
        counts = await prune_all(pool, runtime_prunings(ServiceSettings(), publishes=False), service="test",
                                 batch_size=100)
        assert counts == {"processed_events": 1}

        sentinel = new_envelope(participant_registered(str(uuid.uuid4())), source="/test")
        await produce(kafka_bootstrap, [within, beyond, sentinel], namespace=topic_namespace)
        await eventually(lambda: _count_is(1, pool, "SELECT count(*) FROM effects WHERE event_id = $1", sentinel.id),
                         timeout=30)
        assert await _count(pool, "SELECT count(*) FROM effects WHERE event_id = $1", within.id) == 1
        # Past the horizon the marker is gone and the event applies again: why the horizon rules exist.
        assert await _count(pool, "SELECT count(*) FROM effects WHERE event_id = $1", beyond.id) == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_registration_runs_its_housekeeping_job_with_its_idempotency_keys(database_url):
    # No broker answers: the relay cannot publish the unpublished row behind the test's back (once published, its
    # old created_at would make it prunable), and registration runs without a broker anyway.
    service = build_registration(RegistrationSettings(
        database_url=database_url, kafka_bootstrap=f"127.0.0.1:{free_port()}", housekeeping_interval_s=0.2,
        idempotency_ttl_hours=24,
    ))
    await service.start()
    try:
        pool = service.pool
        for key, age in (("expired", 25), ("fresh", 23)):
            await pool.execute(
                """INSERT INTO idempotency_keys (api_key_id, idem_key, fingerprint, created_at)
                   VALUES ('k1', $1, 'f', now() - make_interval(hours => $2))""", key, age,
            )
        old = await add_outbox_row(pool, age=8 * DAY, published_age=8 * DAY)
        kept = await add_outbox_row(pool, age=8 * DAY, published_age=None)

        async def swept():
            keys = {r["idem_key"] for r in await pool.fetch("SELECT idem_key FROM idempotency_keys")}
            return keys == {"fresh"} and old not in await ids(pool, "outbox")

        await eventually(swept)
        assert kept in await ids(pool, "outbox")
        assert "idempotency-sweep" not in {t.get_name() for t in service._tasks}, "one job, not two"
    finally:
        await asyncio.wait_for(service.stop(), 20)


async def test_reporting_prunes_its_markers_but_never_its_applied_events(
    database_url, kafka_bootstrap, topic_namespace
):
    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=topic_namespace)
    service = build_reporting(ReportingSettings(
        database_url=database_url, kafka_bootstrap=kafka_bootstrap, housekeeping_interval_s=0.2,
    ))
    await service.start()
    try:
        pool = service.pool
        applied = str(uuid.uuid4())
        # The projection holds an event as old as the oldest pruned marker: the rebuild's completeness
        # check compares against these rows, so they must stay.
        await pool.execute(
            "INSERT INTO applied_events (event_id, event_type, event_time) VALUES ($1, 'participant.registered', "
            "now() - interval '400 days')", applied,
        )
        marker = await add_marker(pool, age=400 * DAY, consumer="reporting-kpis")
        await eventually(lambda: _gone(pool, marker))
        assert await ids(pool, "applied_events") == {applied}
    finally:
        await asyncio.wait_for(service.stop(), 20)


async def test_dlq_replay_refuses_events_older_than_the_marker_horizon(kafka_bootstrap, topic_namespace, monkeypatch):
    ns = topic_namespace
    monkeypatch.setenv("CXC_PROCESSED_EVENTS_RETENTION_DAYS", "30")
    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=ns)
    old = new_envelope(participant_registered(f"old-{uuid.uuid4()}"), source="/test")
    old = old.model_copy(update={"time": datetime.now(UTC) - timedelta(days=31)})
    young = new_envelope(participant_registered(f"young-{uuid.uuid4()}"), source="/test")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for envelope in (old, young):
            key, value, headers = encode(envelope)
            headers = list(headers) + [("cxc_original_topic", TOPIC.encode()), ("cxc_error_class", b"ValueError")]
            await (await producer.send(ns.topic(f"{TOPIC}.dlq"), value, key=key, headers=headers))
    finally:
        await producer.stop()
    letters = await eventually(lambda: _letters(kafka_bootstrap, ns, 2))
    by_id = {m.event_id: m for m in letters}

    out = Captured()
    assert await dlq.replay_cmd(kafka_bootstrap, [], out, all_of=True, namespace=ns) == 1
    refusal = out.errors.getvalue()
    assert "refused: 1 of these dead letters hold events older than 30 days" in refusal
    assert by_id[old.id].ref in refusal and "CXC_PROCESSED_EVENTS_RETENTION_DAYS" in refusal
    assert "apply it again" in refusal and "Nothing was replayed" in refusal and "--force" in refusal

    assert await dlq.replay_cmd(kafka_bootstrap, [by_id[young.id].ref], Captured(), namespace=ns) == 0
    assert await dlq.replay_cmd(kafka_bootstrap, [by_id[old.id].ref], Captured(), namespace=ns, force=True) == 0
    replayed = await read_all(kafka_bootstrap, ns.topic(TOPIC), expect=2)
    assert sorted(r.key.decode() for r in replayed) == sorted([young.subject, old.subject])


async def _letters(bootstrap, ns, n):
    letters = await dlq.dead_letters(bootstrap, namespace=ns)
    return letters if len(letters) >= n else None


async def _count(pool, sql, *args) -> int:
    return await pool.fetchval(sql, *args)


async def _count_is(n, pool, sql, *args) -> bool:
    return await pool.fetchval(sql, *args) == n


async def _gone(pool, event_id) -> bool:
    return not await pool.fetchval("SELECT count(*) FROM processed_events WHERE event_id = $1", event_id)
