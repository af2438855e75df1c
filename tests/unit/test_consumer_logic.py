"""The consumer runner's decisions (apply, skip duplicate, retry, dead-letter, stall) with in-memory fakes."""

import asyncio
import contextlib
import json
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka.structs import ConsumerRecord

from shared.events import encode, new_envelope
from shared.events.catalogue import ParticipantRegistered, Profile
from shared.messaging.consumer import ConsumerRunner, ConsumerStalled


class FakeConn:
    def __init__(self, store):
        self.store = store

    @contextlib.asynccontextmanager
    async def transaction(self):
        snapshot = set(self.store.markers)
        try:
            yield
        except BaseException:
            self.store.markers = snapshot  # rollback
            raise

    async def fetchval(self, sql, consumer, event_id, *rest):
        if self.store.down:
            raise ConnectionRefusedError("database away")
        if (consumer, event_id) in self.store.markers:
            return None
        self.store.markers.add((consumer, event_id))
        return True


class FakePool:
    def __init__(self):
        self.markers = set()
        self.down = False

    @contextlib.asynccontextmanager
    async def acquire(self, timeout=None):
        yield FakeConn(self)


class FakeProducer:
    def __init__(self):
        self.sent = []

    async def send(self, topic, value, key=None, headers=None):
        self.sent.append((topic, value, key, dict(headers)))
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


def record(value: bytes, offset=0, key: bytes | None = None) -> ConsumerRecord:
    if key is None:
        try:
            key = json.loads(value)["subject"].encode()
        except ValueError:
            key = b"k"
    return ConsumerRecord("cxc.participants", 0, offset, 0, 0, key, value, None, len(value), 1, [("ce_id", b"x")])


def event_bytes(pid="p1") -> tuple[str, bytes]:
    env = new_envelope(
        ParticipantRegistered(
            participant_id=pid, profile=Profile(cluster_id="c", kind="sme", name="n", country="DE"),
            registered_at=datetime.now(UTC),
        ),
        source="/test",
    )
    return env.id, encode(env)[1]


def runner(pool, handler, **kw) -> tuple[ConsumerRunner, FakeProducer]:
    r = ConsumerRunner("test-consumer", pool, {"participant.registered": handler}, topics=["cxc.participants"],
                       bootstrap="unused", retry_base_s=0.001, **kw)
    r._dlq_producer = FakeProducer()
    return r, r._dlq_producer


async def test_same_event_twice_is_applied_once():
    calls = []

    async def handler(conn, env):
        calls.append(env.id)

    r, dlq = runner(FakePool(), handler)
    event_id, value = event_bytes()
    await r._handle(record(value, 0))
    await r._handle(record(value, 1))
    assert calls == [event_id]
    assert dlq.sent == []


async def test_undecodable_message_goes_to_dlq_with_error_headers():
    async def handler(conn, env):
        raise AssertionError("must not be called")

    r, dlq = runner(FakePool(), handler)
    await r._handle(record(b"{not json", 7))
    [(topic, value, key, headers)] = dlq.sent
    assert topic == "cxc.participants.dlq"
    assert value == b"{not json" and key == b"k"  # the original key travels with the dead letter
    assert headers["cxc_error_stage"] == b"decode"
    assert headers["cxc_original_offset"] == b"7"
    assert headers["ce_id"] == b"x"  # original headers kept


async def test_failing_handler_is_retried_then_dead_lettered_and_its_effect_rolled_back():
    pool = FakePool()
    attempts = []

    async def handler(conn, env):
        attempts.append(1)
        raise ValueError("bad data")

    r, dlq = runner(pool, handler, max_retries=3)
    _, value = event_bytes()
    await r._handle(record(value))
    assert len(attempts) == 4  # first try + 3 retries
    assert dlq.sent[0][3]["cxc_error_class"] == b"ValueError"
    assert dlq.sent[0][3]["cxc_error_stage"] == b"handler"
    assert pool.markers == set(), "the dedupe marker must roll back with the failed handler"


async def test_handler_that_recovers_within_the_retry_bound_is_applied():
    attempts = []

    async def handler(conn, env):
        attempts.append(1)
        if len(attempts) < 3:
            raise asyncpg.SerializationError("conflict")

    r, dlq = runner(FakePool(), handler, max_retries=5)
    await r._handle(record(event_bytes()[1]))
    assert len(attempts) == 3 and dlq.sent == []


async def test_unreachable_database_stalls_the_consumer_instead_of_dead_lettering():
    pool = FakePool()
    pool.down = True

    async def handler(conn, env):
        pass

    r, dlq = runner(pool, handler, max_retries=2)
    with pytest.raises(ConsumerStalled):
        await r._handle(record(event_bytes()[1]))
    assert dlq.sent == [], "an outage is not the message's fault"


async def test_event_types_without_handler_are_skipped():
    r, dlq = runner(FakePool(), None)
    r.handlers = {}
    await r._handle(record(event_bytes()[1]))
    assert dlq.sent == []


async def test_a_missing_table_stalls_the_consumer_instead_of_dead_lettering_the_stream():
    async def handler(conn, env):
        raise asyncpg.UndefinedTableError("relation \"participants\" does not exist")

    r, dlq = runner(FakePool(), handler, max_retries=2)
    with pytest.raises(ConsumerStalled, match="schema broken"):
        await r._handle(record(event_bytes()[1]))
    assert dlq.sent == []


async def test_an_event_whose_key_is_not_its_subject_is_dead_lettered():
    async def handler(conn, env):
        raise AssertionError("must not be called")

    r, dlq = runner(FakePool(), handler)
    await r._handle(record(event_bytes("p1")[1], key=None or b"another-aggregate"))
    assert b"is not the event's subject" in dlq.sent[0][3]["cxc_error_message"]
