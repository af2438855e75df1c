"""/readyz with the broker away: registration (no consumers) stays ready and takes writes into its outbox, a
consumer service is unready and says why; probes read one long-lived monitor and open no Kafka clients."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from services.registration import seed
from services.registration.bootstrap import build as build_registration
from services.registration.settings import RegistrationSettings
from services.reporting.bootstrap import build as build_reporting
from services.reporting.settings import ReportingSettings
from shared import auth as api_keys
from shared import metrics
from shared.events.topics import topic_specs
from shared.messaging import kafka
from shared.messaging.kafka import BrokerMonitor, ensure_topics
from tests.support.polling import eventually
from tests.support.payloads import PARTICIPANT as BODY

pytestmark = pytest.mark.integration

FAST_PROBES = {"broker_probe_interval_s": 0.2, "broker_timeout_s": 1.0}


@contextlib.asynccontextmanager
async def serving(service):
    app = service.app()
    await service.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            yield client
    finally:
        await asyncio.wait_for(service.stop(), 20)


async def readyz(client, until):
    """The /readyz answer once ``until(json)`` holds."""
    async def check():
        response = await client.get("/readyz")
        return response if until(response.json()) else None

    return await eventually(check, timeout=30)


def broker_down(body) -> bool:
    return body["checks"]["broker"].startswith("unreachable since")


async def test_registration_stays_ready_and_takes_writes_while_the_broker_is_down(database_url, embedded_broker):
    service = build_registration(RegistrationSettings(
        database_url=database_url, kafka_bootstrap=embedded_broker.bootstrap, **FAST_PROBES,
    ))
    async with serving(service) as client:
        async with service.pool.acquire() as conn:
            await seed.seed_clusters(conn)
            _, key = await api_keys.issue_key(conn, "mazovia-ict", "partner", None, source="/test")
        up = await readyz(client, lambda b: b["checks"]["broker"] == "ok")
        assert up.status_code == 200 and up.json()["status"] == "ok"

        embedded_broker.stop()
        down = await readyz(client, broker_down)
        body = down.json()
        assert down.status_code == 200 and body["ready"] is True
        assert body["status"] == "degraded" and body["degraded"] == ["broker"] and "failing" not in body
        assert "degraded: writes wait in the outbox" in body["checks"]["broker"]
        assert body["checks"]["database"] == body["checks"]["workers"] == "ok"

        created = await client.post("/v1/participants", json=BODY, headers={"Authorization": f"Bearer {key}"})
        assert created.status_code == 201
        pending = body["outbox"]["pending"]  # the key issued above may be waiting too
        after = await readyz(client, lambda b: broker_down(b) and b["outbox"]["pending"] == pending + 1)
        assert after.status_code == 200 and f"{pending + 1} pending" in after.json()["checks"]["broker"]
        # The relay keeps measuring the backlog while it cannot publish.
        async def backlog_measured():
            return _gauge(metrics.OUTBOX_PENDING, "registration") == pending + 1

        await eventually(backlog_measured)


async def test_a_consumer_service_is_unready_and_says_what_it_waits_for(database_url, embedded_broker):
    await ensure_topics(embedded_broker.bootstrap, topic_specs())
    service = build_reporting(ReportingSettings(
        database_url=database_url, kafka_bootstrap=embedded_broker.bootstrap, consumer_session_timeout_ms=6000,
        **FAST_PROBES,
    ))
    async with serving(service) as client:
        names = [f"consumer {r.name}" for r in service.runners]
        assert "consumer reporting-keys" in names
        starting = await client.get("/readyz")
        assert starting.status_code == 503
        waiting = {"not started", "connecting to the broker", "waiting for partition assignment",
                   "broker not probed yet"}
        assert {starting.json()["checks"][n] for n in names} <= waiting
        assert set(starting.json()["failing"]) >= set(names)

        ready = await readyz(client, lambda b: b["ready"])
        assert ready.status_code == 200 and all(ready.json()["checks"][n] == "ok" for n in names)

        embedded_broker.stop()
        down = await readyz(client, broker_down)
        body = down.json()
        assert down.status_code == 503 and body["status"] == "not ready"
        assert "broker" in body["failing"] and "degraded" not in body
        since = body["checks"]["broker"].removeprefix("unreachable since ")
        assert all(body["checks"][n] == f"broker unreachable since {since}" for n in names)


async def test_readiness_probes_open_no_kafka_clients(database_url, kafka_bootstrap, monkeypatch):
    created = []

    class CountedClient(kafka.AIOKafkaClient):
        def __init__(self, *args, **kwargs):
            created.append(kwargs.get("client_id"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(kafka, "AIOKafkaClient", CountedClient)
    service = build_registration(RegistrationSettings(
        database_url=database_url, kafka_bootstrap=kafka_bootstrap, **FAST_PROBES,
    ))
    async with serving(service) as client:
        await readyz(client, lambda b: b["checks"]["broker"] == "ok")
        before = len(created)
        for _ in range(25):
            assert (await client.get("/readyz")).status_code == 200
        assert len(created) == before
        assert service.broker.clients_created == 1


async def test_the_broker_monitor_reconnects_with_its_one_client(embedded_broker):
    monitor = BrokerMonitor(embedded_broker.bootstrap, timeout_s=1.0, interval_s=0.1)
    monitor.start()
    try:
        assert await monitor.probe() and monitor.describe() == "ok"
        embedded_broker.stop()
        assert not await monitor.probe()
        assert monitor.describe().startswith("unreachable since") and monitor.down_since is not None
        embedded_broker.start()
        await eventually(monitor.probe, timeout=30)
        assert monitor.describe() == "ok" and monitor.down_since is None
        assert monitor.clients_created == 1
    finally:
        await monitor.close()


def _gauge(gauge, *labels) -> float:
    return gauge.labels(*labels)._value.get()
