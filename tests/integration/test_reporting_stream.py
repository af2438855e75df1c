"""The live stream: ops watch events as they flow, filtered, without touching any consumer group."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from services.reporting.bootstrap import build
from services.reporting.settings import ReportingSettings
from shared import auth
from shared.events.topics import topic_specs
from shared.messaging.kafka import ensure_topics
from tests.reporting_history import generate, serving
from tests.support.polling import eventually
from tests.support.topics import produce

pytestmark = pytest.mark.integration


@pytest.fixture
async def live(database_url, kafka_bootstrap, topic_namespace):
    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=topic_namespace)
    service = build(ReportingSettings(database_url=database_url, kafka_bootstrap=kafka_bootstrap,
                                      consumer_session_timeout_ms=6000))
    async with serving(service.app()) as url:
        async with service.pool.acquire() as conn:
            keys = {role: (await auth.issue_key(conn, "gaia", role, None, source="/test"))[1]
                    for role in ("ops", "partner")}
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            client.keys = keys
            client.bootstrap, client.namespace = kafka_bootstrap, topic_namespace
            yield client


async def read_events(lines, want: int) -> list[dict]:
    events, data = [], []
    async for line in lines:
        if line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and data:
            events.append(json.loads("\n".join(data)))
            data = []
            if len(events) == want:
                return events
    return events


async def wait_ready(lines) -> None:
    async for line in lines:
        if line == ": ready":
            return


async def test_ops_see_new_events_filtered_by_type_and_cluster_and_each_groups_lag(live):
    history = generate(participants=24, exchanges=24, meetings=2)

    def gaia_exchange(e):
        return e.type.startswith("exchange.") and "gaia" in {e.data.get("sending_cluster_id"), e.data.get("host_cluster_id")}

    cut = [i for i, e in enumerate(history.envelopes) if gaia_exchange(e)][4]
    before, after = history.envelopes[:cut], history.envelopes[cut:]
    await produce(live.bootstrap, before, linger_ms=0, namespace=live.namespace)  # already in the log: not part of the live stream
    wanted = [e for e in after if gaia_exchange(e)]
    assert wanted and any(gaia_exchange(e) for e in before)
    headers = {"Authorization": f"Bearer {live.keys['ops']}"}
    async with live.stream("GET", "/v1/stream/events", params={"type": "exchange", "cluster": "gaia"},
                           headers=headers) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = r.aiter_lines()
        await asyncio.wait_for(wait_ready(lines), 20)
        await produce(live.bootstrap, after, linger_ms=0, namespace=live.namespace)
        got = await asyncio.wait_for(read_events(lines, len(wanted)), 30)
    assert sorted(e["id"] for e in got) == sorted(e.id for e in wanted)
    assert all(e["topic"] == "cxc.exchanges" and "gaia" in e["clusters"] for e in got)

    # the lag of each consumer group, here reporting's projection catching up with what was published
    async def drained():
        r = await live.get("/v1/stream/lag", headers=headers)
        assert r.status_code == 200, r.text
        groups = {g["group"]: g for g in r.json()["groups"]}
        kpis = groups.get("reporting-kpis", {})
        return groups if "cxc.exchanges" in kpis.get("by_topic", {}) and kpis["lag"] == 0 else None

    groups = await eventually(drained, timeout=40, interval=0.5)
    assert {"cxc.participants", "cxc.exchanges"} <= groups["reporting-kpis"]["by_topic"].keys()


async def test_the_stream_and_lag_need_an_ops_or_coordinator_key(live):
    assert (await live.get("/v1/stream/events")).status_code == 401
    partner = {"Authorization": f"Bearer {live.keys['partner']}"}
    assert (await live.get("/v1/stream/events", headers=partner)).status_code == 403
    assert (await live.get("/v1/stream/lag", headers=partner)).status_code == 403
    assert (await live.get("/stream")).status_code == 401, "the page too needs a key (or a session)"
    page = await live.get("/stream", headers={"Authorization": f"Bearer {live.keys['ops']}"})
    assert page.status_code == 200 and "/v1/stream/events" in page.text
