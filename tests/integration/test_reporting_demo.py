"""`cxc demo` against the real registration ingress: the scoreboard then shows the programme."""

from __future__ import annotations

import asyncio

import pytest

from services.registration import seed
from services.registration.bootstrap import build as build_registration
from services.registration.settings import RegistrationSettings
from services.reporting.bootstrap import build as build_reporting
from services.reporting.entrypoints.demo import Ingress, expected, generate, post_programme, subset
from services.reporting.settings import ReportingSettings
from shared.events.topics import topic_specs
from shared.messaging.kafka import ensure_topics
from tests.reporting_history import serving
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


async def test_demo_programme_posted_through_the_ingress_is_what_the_scoreboard_shows(database_url, kafka_bootstrap,
                                                                                   topic_namespace):
    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=topic_namespace)
    common = dict(database_url=database_url, kafka_bootstrap=kafka_bootstrap, consumer_session_timeout_ms=6000)
    registration = build_registration(RegistrationSettings(**common, relay_poll_interval_s=0.2))
    reporting = build_reporting(ReportingSettings(**common))
    # A sixth of the programme keeps the test quick; the whole one is checked against registration's rules
    # in tests/unit/test_reporting_demo.py.
    programme = subset(generate(), 50)
    truth = expected(programme)
    assert truth["exchanges"] >= 10 and truth["closing_reports"] >= 5
    async with serving(registration.app()) as ingress_url, serving(reporting.app()) as reporting_url:
        async with registration.pool.acquire() as conn:
            await seed.seed_clusters(conn)
            keys = await seed.dev_keys(conn, None)

        api = Ingress(ingress_url, keys, "test-demo")
        counts = await asyncio.to_thread(post_programme, api, programme, lambda _: None)
        assert counts["counted"] == truth["exchanges"] and counts["smes"] == truth["smes"]

        # the same programme again: idempotent, nothing new is published or counted
        published = await registration.pool.fetchval("SELECT count(*) FROM outbox")
        await asyncio.to_thread(post_programme, Ingress(ingress_url, keys, "test-demo"), programme, lambda _: None)
        assert await registration.pool.fetchval("SELECT count(*) FROM outbox") == published

        import httpx

        async def board():
            # the coordinator key reaches reporting's replica through cxc.keys, like any key
            async with httpx.AsyncClient(base_url=reporting_url,
                                         headers={"Authorization": f"Bearer {keys['coordinator']}"}) as client:
                r = await client.get("/v1/kpis")
            if r.status_code != 200:
                return None
            b = r.json()
            # topics are consumed independently: wait for the last event of each to be counted
            done = (b["exchanges"]["by_status"].get("completed") == truth["closing_reports"]
                    and b["participants"]["total"] == truth["participants"]
                    and b["activities"]["total"] == len(programme.activities))
            return b if done else None

        b = await eventually(board, timeout=90, interval=0.5)
    assert b["participants"]["total"] == truth["participants"] == 50
    assert b["exchanges"]["total"] == truth["exchanges"] and b["exchanges"]["smes"] == truth["smes"]
    assert b["activities"]["by_kind"]["study_visit"] == 5
    assert b["satisfaction"]["responses"] == truth["closing_reports"]
    assert len(b["participants"]["by_cluster"]) == 6
    assert b["lump_sums_eur"]["committed"] > b["lump_sums_eur"]["paid"] > 0
