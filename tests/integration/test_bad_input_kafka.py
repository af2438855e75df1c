"""Bad input on the wire: every kind of poison goes to the DLQ with a reason, and the consumer keeps going."""

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from shared.db import create_pool, migrate
from shared.events import encode, new_envelope
from shared.messaging.consumer import ConsumerRunner
from shared.messaging.kafka import ensure_topics
from tests.support.topics import read_all
from tests.support.payloads import participant_registered
from tests.support.polling import eventually

pytestmark = pytest.mark.integration
TOPIC = "cxc.participants"


def valid(subject: str) -> dict:
    return json.loads(encode(new_envelope(participant_registered(subject), source="/test"))[1])


def poison_messages() -> dict[str, tuple[bytes | None, bytes]]:
    """name → (key, value); the expected reason is checked against the DLQ headers."""
    unknown_type = valid("u-1") | {"type": "participant.teleported"}
    future_version = valid("f-1") | {"schemaversion": 99, "dataschema": "urn:cxc:event:participant.registered:v99"}
    bad_payload = valid("b-1")
    bad_payload["data"]["profile"]["country"] = 42
    missing_key = valid("m-1")
    return {
        "undecodable bytes": (b"x", b"\xff\xfe\x00 garbage"),
        "unknown type": (b"u-1", json.dumps(unknown_type).encode()),
        "future schemaversion": (b"f-1", json.dumps(future_version).encode()),
        "invalid payload": (b"b-1", json.dumps(bad_payload).encode()),
        "gigantic": (b"g", b'{"junk": "' + b"x" * 900_000 + b'"}'),
        "missing key": (None, json.dumps(missing_key).encode()),
    }


REASONS = {
    "undecodable bytes": b"not JSON",
    "unknown type": b"unknown event type",
    "future schemaversion": b"invalid participant.registered v99",
    "invalid payload": b"invalid participant.registered v1",
    "gigantic": b"invalid envelope",
    "missing key": b"is not the event's subject",
}


async def test_each_kind_of_poison_goes_to_the_dlq_with_a_reason_and_consumption_goes_on(
    database_url, kafka_bootstrap, topic_namespace
):
    await ensure_topics(kafka_bootstrap, [(TOPIC, 4), (f"{TOPIC}.dlq", 4)], namespace=topic_namespace)
    topic = topic_namespace.topic(TOPIC)
    pool = await create_pool(database_url, "badinput", max_size=4)
    await migrate(pool, "badinput", None)
    await pool.execute("CREATE TABLE effects (subject text NOT NULL)")

    async def apply(conn, envelope):
        await conn.execute("INSERT INTO effects VALUES ($1)", envelope.subject)

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=2_000_000)
    await producer.start()
    poisons = poison_messages()
    good = f"good-{uuid.uuid4()}"
    try:
        for key, value in poisons.values():
            await (await producer.send(topic, value, key=key))
        key, value, _ = encode(new_envelope(participant_registered(good), source="/test"))
        await (await producer.send(topic, value, key=key))
    finally:
        await producer.stop()

    runner = ConsumerRunner("badinput", pool, {"participant.registered": apply}, topics=[TOPIC],
                            bootstrap=kafka_bootstrap, session_timeout_ms=6000, max_retries=1, retry_base_s=0.01,
                            namespace=topic_namespace)
    task = asyncio.create_task(runner.run())
    try:
        async def good_applied():
            return await pool.fetchval("SELECT count(*) FROM effects WHERE subject = $1", good)

        assert await eventually(good_applied, timeout=30) == 1
        dead = await read_all(kafka_bootstrap, f"{topic}.dlq", expect=len(poisons))
        assert len(dead) == len(poisons)
        by_value = {d.value: dict(d.headers) for d in dead}
        for name, (_, value) in poisons.items():
            headers = by_value[value]
            assert REASONS[name] in headers["cxc_error_message"], (name, headers["cxc_error_message"][:200])
            assert headers["cxc_error_stage"] == b"decode"
        assert await pool.fetchval("SELECT count(*) FROM effects") == 1, "no poison may have an effect"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.close()
