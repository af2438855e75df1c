"""Abuse and failure modes of the runtime (issue 13, points 6 and 9): API keys cannot be minted by writing to
a topic and revocations are order-safe; a statement timeout is retried and dead-lettered instead of
crash-looping a consumer; periodic workers survive transient errors; the scheduler refuses inputs that would
allocate without bound."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from services.matchmaking.adapters import activities
from services.matchmaking.bootstrap import build, expiry_sweeper
from services.matchmaking.settings import MatchmakingSettings
from shared import auth as api_keys
from shared import metrics
from shared.db import create_pool, migrate
from shared.events import decode, encode, new_envelope
from shared.events.catalogue import ActivityCreated, ApiKeyIssued, ApiKeyIssuedV2, MeetingSettings
from shared.keysigning import PUBLIC_KEY_VAR, KeySigner, KeyVerifier, default_signer, generate_keypair
from shared.messaging.consumer import ConsumerRunner, ConsumerStalled, Rejected
from shared.messaging.kafka import ensure_topics
from shared.periodic import backoff_delay, run_periodically
from tests.support.topics import read_all
from tests.support.payloads import participant_registered
from tests.support.polling import eventually
from tests.support.database import kernel_pool


def sample(metric, *labels) -> float:
    return metric.labels(*labels)._value.get()


# --- periodic workers ----------------------------------------------------------------------------


async def test_periodic_worker_keeps_running_through_failures_and_backs_off_exponentially():
    name = f"unit-{uuid.uuid4().hex[:8]}"
    outcomes = iter([ConnectionRefusedError("db down"), asyncpg.CannotConnectNowError("starting up"),
                     RuntimeError("bug"), None, None])
    calls, sleeps = [], []

    async def step():
        calls.append(1)
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome

    async def fake_sleep(seconds):
        sleeps.append(seconds)
        if len(calls) == 5:
            raise asyncio.CancelledError  # stop the loop the way a shutdown does

    with pytest.raises(asyncio.CancelledError):
        await run_periodically(name, step, interval_s=30, base_backoff_s=1, max_backoff_s=60, sleep=fake_sleep,
                               rng=random.Random(7))
    assert len(calls) == 5
    # three failures: jittered delays from the upper half of 1, 2, 4 s; then the interval after each success
    assert 0.5 <= sleeps[0] <= 1 and 1 <= sleeps[1] <= 2 and 2 <= sleeps[2] <= 4
    assert sleeps[3:] == [30, 30]
    assert sample(metrics.PERIODIC_RUNS, name, "failed") == 3
    assert sample(metrics.PERIODIC_RUNS, name, "ok") == 2
    assert sample(metrics.PERIODIC_CONSECUTIVE_FAILURES, name) == 0


def test_backoff_is_capped_and_jittered():
    rng = random.Random(1)
    delays = [backoff_delay(n, 1, 10, rng) for n in range(1, 12)]
    assert all(5 <= d <= 10 for d in delays[4:])  # capped at 10 s, never below half the cap
    assert len({round(d, 6) for d in delays[4:]}) > 1  # replicas failing together spread out


async def test_periodic_worker_stops_at_once_when_cancelled_mid_round():
    started = asyncio.Event()

    async def slow_step():
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(run_periodically(f"cancel-{uuid.uuid4().hex[:8]}", slow_step, interval_s=1))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)


class FlakyPool:
    """The real pool, except that the first ``failures`` acquisitions fail as during a database restart."""

    def __init__(self, pool: asyncpg.Pool, failures: int) -> None:
        self.pool, self.failures = pool, failures

    def acquire(self, *args, **kwargs):
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        return self.pool.acquire(*args, **kwargs)


@pytest.mark.integration
async def test_meeting_expiry_sweeper_survives_a_database_blip_and_expires_later(database_url):
    pool = await create_pool(database_url, "matchmaking", max_size=2)
    try:
        await migrate(pool, "matchmaking", "services.matchmaking.migrations")
        activity_id, meeting_id = f"act-{uuid.uuid4().hex[:8]}", uuid.uuid4()
        async with pool.acquire() as conn:
            await activities.upsert_created(conn, ActivityCreated(
                activity_id=activity_id, kind="mission", title="Mission", host_cluster_id="gaia", country="ES",
                starts_on=date(2026, 7, 1), ends_on=date(2026, 7, 1),
                meetings=MeetingSettings(day_start="09:00", day_end="10:00", slot_minutes=30, tables=2,
                                         timezone="Europe/Madrid"),
            ))
            await conn.execute(
                "INSERT INTO meetings (meeting_id, activity_id, requester_id, target_id, status, expires_at) "
                "VALUES ($1, $2, 'a', 'b', 'pending', $3)", meeting_id, activity_id, datetime.now(UTC) - timedelta(hours=1),
            )
        flaky = FlakyPool(pool, failures=3)
        service = SimpleNamespace(pool=flaky, settings=SimpleNamespace(expiry_interval_s=0.05))
        before = sample(metrics.PERIODIC_RUNS, "meeting-request-expiry", "failed")
        task = asyncio.create_task(expiry_sweeper(service))
        try:
            async def expired():
                if task.done():  # the old sweeper died on the first failed acquire
                    raise AssertionError(f"the sweeper stopped: {task.exception()!r}")
                return await pool.fetchval("SELECT status FROM meetings WHERE meeting_id = $1", meeting_id) == "expired"

            await eventually(expired, timeout=30)
            assert flaky.failures == 0 and not task.done()
            assert sample(metrics.PERIODIC_RUNS, "meeting-request-expiry", "failed") - before == 3
            assert await pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'meeting.expired'") == 1
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await pool.close()


# --- consumer error classification ---------------------------------------------------------------


@pytest.fixture
async def consumer_pool(database_url):
    async with kernel_pool(database_url, "slowtest", "CREATE TABLE effects (subject text NOT NULL)") as pool:
        yield pool


async def slow_or_quick(conn, envelope):
    """A handler whose statement runs long for some messages: one under the server's statement timeout
    (``slow-server``), one under the client's command timeout (``slow-client``)."""
    subject = envelope.subject
    if subject.startswith("slow-server"):
        await conn.execute("SET LOCAL statement_timeout = '50ms'")
        await conn.execute("SELECT pg_sleep(2)")
    elif subject.startswith("slow-client"):
        await conn.execute("SELECT pg_sleep(2)", timeout=0.2)
    await conn.execute("INSERT INTO effects VALUES ($1)", subject)


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["slow-server", "slow-client"])
async def test_statement_timeout_is_retried_then_dead_lettered_and_the_consumer_goes_on(
    kind, consumer_pool, kafka_bootstrap
):
    topic = f"test.slow.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [(topic, 1), (f"{topic}.dlq", 1)])
    slow, good = f"{kind}-{uuid.uuid4()}", f"good-{uuid.uuid4()}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for pid in (slow, good):
            key, value, headers = encode(new_envelope(participant_registered(pid), source="/test"))
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()
    runner = ConsumerRunner(
        f"slow-{uuid.uuid4().hex[:8]}", consumer_pool, {"participant.registered": slow_or_quick}, topics=[topic],
        bootstrap=kafka_bootstrap, timeout_s=5, max_retries=2, retry_base_s=0.01, session_timeout_ms=6000,
    )
    task = asyncio.create_task(runner.run())
    try:
        async def good_applied():
            if task.done():  # before: a client timeout counted as an outage and stalled the consumer
                raise AssertionError(f"the consumer stopped: {task.exception()!r}")
            return await consumer_pool.fetchval("SELECT count(*) FROM effects WHERE subject = $1", good)

        await eventually(good_applied, timeout=60)
        [dead] = await read_all(kafka_bootstrap, f"{topic}.dlq", expect=1)
        headers = dict(dead.headers)
        assert dead.key == slow.encode()
        assert headers["cxc_error_stage"] == b"handler"
        assert headers["cxc_error_class"] in (b"QueryCanceledError", b"TimeoutError")
        assert headers["cxc_error_attempts"] == b"3"  # the first try and max_retries=2 retries
        assert not task.done()
        assert await consumer_pool.fetchval("SELECT count(*) FROM effects WHERE subject = $1", slow) == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class ProbedConn:
    def __init__(self, pool):
        self.pool = pool

    @contextlib.asynccontextmanager
    async def transaction(self):
        yield

    async def execute(self, sql, *args, timeout=None):
        pass

    async def fetchval(self, sql, *args, timeout=None):
        if sql == "SELECT 1":
            self.pool.probes += 1
            if not self.pool.answers:
                raise TimeoutError()
            return 1
        return True  # the dedupe marker: a fresh event


class ProbedPool:
    def __init__(self, *, answers: bool, acquire_fails: bool = False):
        self.answers, self.acquire_fails, self.probes = answers, acquire_fails, 0

    @contextlib.asynccontextmanager
    async def acquire(self, timeout=None):
        if self.acquire_fails:
            raise TimeoutError()  # the pool had no connection to give within the timeout
        yield ProbedConn(self)


async def hangs(conn, envelope):
    raise TimeoutError()  # what asyncpg raises when a statement outlives its command timeout


def fake_runner(pool, **kw):
    runner = ConsumerRunner("fake", pool, {"participant.registered": hangs}, topics=["t"], bootstrap="unused",
                            max_retries=2, retry_base_s=0.001, **kw)
    runner._dlq_producer = SimpleNamespace(sent=[])

    async def send(topic, value, key=None, headers=None):
        runner._dlq_producer.sent.append(dict(headers))
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    runner._dlq_producer.send = send
    return runner


def fake_record():
    envelope = new_envelope(participant_registered(f"p-{uuid.uuid4()}"), source="/test")
    key, value, headers = encode(envelope)
    return ConsumerRecord("t", 0, 0, 0, 0, key, value, None, len(key), len(value), headers)


async def test_a_timeout_while_the_database_answers_is_the_messages_fault():
    runner = fake_runner(ProbedPool(answers=True))
    await runner._handle(fake_record())
    [headers] = runner._dlq_producer.sent
    assert headers["cxc_error_class"] == b"TimeoutError" and headers["cxc_error_attempts"] == b"3"


async def test_a_timeout_while_the_database_does_not_answer_is_an_outage():
    pool = ProbedPool(answers=False)
    runner = fake_runner(pool)
    with pytest.raises(ConsumerStalled, match="database unreachable"):
        await runner._handle(fake_record())
    assert runner._dlq_producer.sent == [] and pool.probes == 3


async def test_waiting_for_a_pool_connection_is_an_outage_not_the_messages_fault():
    pool = ProbedPool(answers=True, acquire_fails=True)
    runner = fake_runner(pool)
    with pytest.raises(ConsumerStalled):
        await runner._handle(fake_record())
    assert runner._dlq_producer.sent == [] and pool.probes == 0


# --- API keys: the authority stays in registration ------------------------------------------------


def forged_signer() -> KeySigner:
    return KeySigner.from_text(generate_keypair()[0])  # a key pair registration never had


def issued_fields(key: str, role: str = "coordinator", cluster: str = "silicon-saxony") -> dict:
    return dict(key_id=str(uuid.uuid4()), cluster_id=cluster, role=role, key_sha256=api_keys.digest(key).hex(),
                prefix=key[:10], label=None)


@pytest.fixture
async def replica(database_url):
    async with kernel_pool(database_url, "replica", max_size=2) as pool:
        yield pool


def handlers_for_test():
    return api_keys.key_replica_handlers(KeyVerifier.from_text(os.environ[PUBLIC_KEY_VAR]), "test")


@pytest.mark.parametrize("how", ["unsigned-v1", "forged-signature", "tampered-role", "empty-signature"])
async def test_key_events_not_signed_by_registration_are_rejected_and_counted(how, replica):
    key = api_keys.new_key()
    fields = issued_fields(key)
    if how == "unsigned-v1":
        envelope = new_envelope(ApiKeyIssued(**fields), source="/attacker")
    elif how == "forged-signature":
        envelope = new_envelope(api_keys.signed_issued(forged_signer(), **fields), source="/attacker")
    elif how == "tampered-role":  # a real partner key event, upgraded to coordinator in transit
        real = api_keys.signed_issued(default_signer(), **{**fields, "role": "partner"})
        envelope = new_envelope(ApiKeyIssuedV2(**{**real.model_dump(), "role": "coordinator"}), source="/attacker")
    else:
        envelope = new_envelope(ApiKeyIssuedV2(**fields, signature=""), source="/attacker")
    envelope = decode(encode(envelope)[1])  # as a replica receives it: through the wire format and upcasters
    reason = "unsigned" if how in ("unsigned-v1", "empty-signature") else "bad-signature"
    before = sample(metrics.KEY_EVENTS_REJECTED, "test", "apikey.issued", reason)
    async with replica.acquire() as conn:
        with pytest.raises(Rejected, match=reason):
            await handlers_for_test()["apikey.issued"](conn, envelope)
        assert await api_keys.find_key(conn, key) is None
    assert sample(metrics.KEY_EVENTS_REJECTED, "test", "apikey.issued", reason) - before == 1


async def test_a_forged_revocation_cannot_revoke_a_real_key(replica):
    key = api_keys.new_key()
    fields = issued_fields(key, role="partner")
    handlers = handlers_for_test()
    async with replica.acquire() as conn:
        await handlers["apikey.issued"](conn, decode(encode(new_envelope(
            api_keys.signed_issued(default_signer(), **fields), source="/cxc/registration"))[1]))
        forged = api_keys.signed_revoked(forged_signer(), key_id=fields["key_id"], cluster_id=fields["cluster_id"])
        with pytest.raises(Rejected):
            await handlers["apikey.revoked"](conn, decode(encode(new_envelope(forged, source="/attacker"))[1]))
        assert await api_keys.find_key(conn, key) is not None


@pytest.mark.parametrize("replayed", [False, True])
async def test_a_revocation_that_arrives_before_its_issue_keeps_the_key_revoked(replayed, replica):
    key = api_keys.new_key()
    fields = issued_fields(key, role="partner")
    signer, handlers = default_signer(), handlers_for_test()
    issued = decode(encode(new_envelope(api_keys.signed_issued(signer, **fields), source="/cxc/registration"))[1])
    revoked = decode(encode(new_envelope(api_keys.signed_revoked(
        signer, key_id=fields["key_id"], cluster_id=fields["cluster_id"]), source="/cxc/registration"))[1])
    async with replica.acquire() as conn:
        if replayed:  # issued, revoked, then the issue again (a replay or `cxc keys resign`)
            await handlers["apikey.issued"](conn, issued)
        await handlers["apikey.revoked"](conn, revoked)
        assert await api_keys.find_key(conn, key) is None
        await handlers["apikey.issued"](conn, issued)
        assert await api_keys.find_key(conn, key) is None, "the key came alive after its revocation"
        assert await conn.fetchval("SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = $1",
                                   uuid.UUID(fields["key_id"]))


@pytest.mark.integration
async def test_a_key_minted_by_writing_to_the_topic_is_refused_with_401_by_matchmaking(database_url, kafka_bootstrap,
                                                                                       topic_namespace):
    settings = MatchmakingSettings(database_url=database_url, kafka_bootstrap=kafka_bootstrap,
                                   consumer_session_timeout_ms=6000, expiry_interval_s=3600)
    service = build(settings)
    app = service.app()
    await ensure_topics(kafka_bootstrap, [("cxc.keys", 1), ("cxc.keys.dlq", 1)], namespace=topic_namespace)
    await service.start()
    forged_key, unsigned_key, real_key = api_keys.new_key(), api_keys.new_key(), api_keys.new_key()
    forged, unsigned = issued_fields(forged_key), issued_fields(unsigned_key)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for payload in (api_keys.signed_issued(forged_signer(), **forged),       # forged signature
                        ApiKeyIssued(**unsigned),                                # unsigned v1
                        api_keys.signed_issued(default_signer(), **issued_fields(real_key))):  # registration's
            key, value, headers = encode(new_envelope(payload, source="/attacker"))
            await producer.send_and_wait(topic_namespace.topic("cxc.keys"), value, key=key, headers=headers)
    finally:
        await producer.stop()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            async def status(key):
                r = await client.get(f"/v1/meeting-requests/{uuid.uuid4()}", headers={"Authorization": f"Bearer {key}"})
                return r.status_code

            async def real_key_works():  # events apply in order: the forged ones were seen before it
                return await status(real_key) == 404

            await eventually(real_key_works, timeout=60)
            assert await status(forged_key) == 401
            assert await status(unsigned_key) == 401
            rows = await service.pool.fetch("SELECT cluster_id FROM api_keys")
            assert len(rows) == 1
            dead = await read_all(kafka_bootstrap, topic_namespace.topic("cxc.keys.dlq"), expect=2)
            mine = {d.key.decode(): dict(d.headers) for d in dead if d.key.decode() in (forged["key_id"], unsigned["key_id"])}
            assert len(mine) == 2 and {h["cxc_error_stage"] for h in mine.values()} == {b"rejected"}
    finally:
        await asyncio.wait_for(service.stop(), 15)
