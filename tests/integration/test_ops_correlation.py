"""Correlation ids from the HTTP ingress through the outbox and a consumer hop, and the HTTP metrics."""

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from shared.db import create_pool, migrate
from shared.events import encode, new_envelope
from shared.messaging import outbox
from shared.messaging.consumer import ConsumerRunner
from shared.messaging.kafka import ensure_topics
from tests.support.payloads import PARTICIPANT, notification_sent, participant_registered
from tests.support.services import auth, running_registration
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

BODY = PARTICIPANT


@pytest.fixture
async def api(database_url, kafka_bootstrap):
    """Registration in-process with the mazovia partner key on every request."""
    async with running_registration(database_url, kafka_bootstrap) as client:
        client.headers.update(auth(client, "mazovia"))
        yield client


async def recorded(pool) -> list[dict]:
    return [json.loads(r["envelope"]) for r in await pool.fetch("SELECT envelope FROM outbox ORDER BY position")]


async def test_the_callers_request_id_is_echoed_and_becomes_the_events_correlation_id(api):
    r = await api.post("/v1/participants", json=BODY, headers={"X-Request-ID": "partner-req-0042"})
    assert r.status_code == 201, r.text
    assert r.headers["x-request-id"] == "partner-req-0042"
    [event] = await recorded(api.pool)
    assert event["correlationid"] == "partner-req-0042" and "causationid" not in event


async def test_a_request_without_an_id_gets_one_and_its_event_carries_it(api):
    r = await api.post("/v1/participants", json=BODY, headers={"X-Request-ID": "not acceptable\tid"})
    assert r.status_code == 201
    request_id = r.headers["x-request-id"]
    assert request_id != "not acceptable\tid" and str(uuid.UUID(request_id)) == request_id
    [event] = await recorded(api.pool)
    assert event["correlationid"] == request_id


async def test_http_requests_are_counted_and_timed_by_route_template(api):
    created = await api.post("/v1/participants", json=BODY)
    await api.get(f"/v1/participants/{created.json()['id']}")
    text = (await api.get("/metrics")).text
    assert 'cxc_http_requests_total{method="POST",route="/v1/participants",service="registration",status="201"}' in text
    assert 'route="/v1/participants/{participant_id}"' in text
    assert created.json()["id"] not in text, "raw paths would make one time series per participant"
    assert 'cxc_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/participants"' in text


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "batch"])
async def test_an_event_recorded_by_a_consumer_handler_is_caused_by_the_consumed_event(
    database_url, kafka_bootstrap, topic_namespace, batch
):
    topic = "cxc.participants"
    await ensure_topics(kafka_bootstrap, [(topic, 4), (f"{topic}.dlq", 4)], namespace=topic_namespace)
    pool = await create_pool(database_url, "hop", max_size=4)
    await migrate(pool, "hop", None)

    async def notify(conn, envelope):
        await outbox.record(conn, notification_sent(envelope), source="/cxc/hop")

    consumed = new_envelope(participant_registered(str(uuid.uuid4())), source="/test", correlation_id="req-hop-1")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    key, value, headers = encode(consumed)
    await (await producer.send(topic_namespace.topic(topic), value, key=key, headers=headers))
    await producer.stop()
    applied = {"consumer": "hop", "type": "participant.registered", "outcome": "applied"}
    before = REGISTRY.get_sample_value("cxc_events_consumed_total", applied) or 0
    runner = ConsumerRunner("hop", pool, {"participant.registered": notify}, topics=[topic],
                            bootstrap=kafka_bootstrap, timeout_s=5, session_timeout_ms=6000, batch=batch,
                            namespace=topic_namespace)
    task = asyncio.create_task(runner.run())
    try:
        [caused] = await eventually(lambda: recorded(pool), timeout=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.close()
    assert caused["type"] == "notification.sent"
    assert (caused["correlationid"], caused["causationid"]) == ("req-hop-1", consumed.id)
    assert REGISTRY.get_sample_value("cxc_events_consumed_total", applied) == before + 1
