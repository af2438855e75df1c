"""``cxc trace``: a registration's event chain across services, by its correlation id."""

import asyncio
import uuid

import pytest
from prometheus_client import REGISTRY

from shared.db import create_pool, migrate
from shared.events import new_envelope
from shared.events.topics import topic_specs
from shared.messaging import outbox
from shared.messaging.consumer import ConsumerRunner
from shared.messaging.kafka import ensure_topics
from shared.messaging.outbox import OutboxRelay
from cxc.ops.trace import trace_rows
from tests.ops_helpers import Captured, registration
from tests.support.payloads import PARTICIPANT as BODY, notification_sent, participant_registered
from tests.support.polling import eventually
from tests.support.topics import produce

pytestmark = pytest.mark.integration


async def test_trace_lists_a_registrations_event_its_consumers_and_the_notification_it_caused(
    database_url, kafka_bootstrap, topic_namespace
):
    ns = topic_namespace
    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=ns)
    # A notifier standing in for the notifications service: it consumes the registration and records a
    # notification.sent through its outbox, naming no ids (they come from the consumed event).
    pool = await create_pool(database_url, "notifier", max_size=4)
    await migrate(pool, "notifier", None)

    async def welcome(conn, envelope):
        await outbox.record(conn, notification_sent(envelope), source="/cxc/notifier")

    runner = ConsumerRunner("notifier", pool, {"participant.registered": welcome}, topics=["cxc.participants"],
                            bootstrap=kafka_bootstrap, timeout_s=5, session_timeout_ms=6000, namespace=ns)
    relay = OutboxRelay(pool, service="notifier", bootstrap=kafka_bootstrap, timeout_s=5, poll_interval_s=0.1,
                        namespace=ns)
    tasks = [asyncio.create_task(runner.run()), asyncio.create_task(relay.run())]
    try:
        await produce(kafka_bootstrap, [new_envelope(participant_registered(str(uuid.uuid4())), source="/test",
                                                     correlation_id="someone-else")], namespace=ns)
        async with registration(database_url, kafka_bootstrap) as api:
            r = await api.post("/v1/participants", json=BODY, headers={"X-Request-ID": "trace-me-1"})
            assert r.status_code == 201, r.text

            async def chain():
                rows = await trace_rows(kafka_bootstrap, "trace-me-1", namespace=ns)
                return len(rows) == 2 and rows[0]["consumed_by"] == "notifier" and rows
            registered, notified = await eventually(chain, timeout=40, interval=0.5)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close()
    assert (registered["type"], registered["subject"], registered["source"]) == (
        "participant.registered", r.json()["id"], "/cxc/registration")
    assert notified["type"] == "notification.sent" and notified["caused_by"] == registered["event_id"]
    assert registered["time"] <= notified["time"] and notified["ref"].startswith("cxc.notifications:")
    # One notification per registration consumed: the traced one and someone else's.
    assert REGISTRY.get_sample_value(
        "cxc_events_published_total", {"service": "notifier", "type": "notification.sent"}) == 2


async def test_trace_of_an_unknown_correlation_id_says_so(kafka_bootstrap, topic_namespace):
    from cxc.ops.trace import trace

    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=topic_namespace)
    out = Captured()
    assert await trace(kafka_bootstrap, "never-seen", out, namespace=topic_namespace) == 1
    assert out.lines == []


async def test_trace_adds_the_deliveries_the_notifications_api_reports_for_each_traced_event(kafka_bootstrap,
                                                                                           topic_namespace):
    """The notifications API is answered here as API.md's ``GET /v1/notifications?event_id=`` does."""
    import httpx

    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=topic_namespace)
    env = new_envelope(participant_registered(str(uuid.uuid4())), source="/test", correlation_id="with-mail")
    await produce(kafka_bootstrap, [env], namespace=topic_namespace)
    asked = []

    def notifications_api(request: httpx.Request) -> httpx.Response:
        asked.append((request.url.params.get("event_id"), request.headers.get("authorization")))
        if request.url.params.get("event_id") != env.id:
            return httpx.Response(200, json=[])
        return httpx.Response(200, json=[{
            "id": "d-1", "event_id": env.id, "event_type": env.type, "recipient": env.subject, "channel": "email",
            "template": "welcome", "cluster_id": "pole-scs", "status": "sent", "attempts": 2, "due_at": None,
            "sent_at": "2999-01-01T00:00:00+00:00", "created_at": "2999-01-01T00:00:00+00:00",
            "last_error": None, "message_id": "<m1@cxc>",
        }])

    client = httpx.AsyncClient(transport=httpx.MockTransport(notifications_api), base_url="http://notifications",
                               headers={"Authorization": "Bearer ops-key"})
    async with client:
        event, delivery = await trace_rows(kafka_bootstrap, "with-mail", client, topic_namespace)
    assert asked == [(env.id, "Bearer ops-key")]
    assert event["event_id"] == env.id
    assert (delivery["type"], delivery["caused_by"], delivery["detail"]) == (
        "delivery.sent", env.id, "email welcome attempts=2")


async def test_trace_still_lists_the_events_when_the_notifications_api_is_down(kafka_bootstrap, topic_namespace):
    from cxc.ops.trace import trace

    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=topic_namespace)
    env = new_envelope(participant_registered(str(uuid.uuid4())), source="/test", correlation_id="api-down")
    await produce(kafka_bootstrap, [env], namespace=topic_namespace)
    out = Captured()
    assert await trace(kafka_bootstrap, "api-down", out, notifications_url="http://127.0.0.1:9", api_key="k",
                       namespace=topic_namespace) == 0
    assert [line["event_id"] for line in out.lines] == [env.id]
    assert "notifications API unavailable" in out.errors.getvalue()
