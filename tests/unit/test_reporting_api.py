"""Request validation of the reporting API: rejected before any database work, as RFC 9457 problems."""

from __future__ import annotations

import httpx
import pytest

from services.reporting.bootstrap import build
from services.reporting.settings import ReportingSettings


@pytest.fixture
async def api():
    # Never started: a request that reached the database would fail with a 500, not a 422.
    app = build(ReportingSettings(database_url="postgresql://nobody@127.0.0.1:1/none")).app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


async def test_an_invalid_date_is_a_problem_naming_the_field(api):
    r = await api.get("/v1/kpis", params={"from": "2025-13-01"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == ["from"]


async def test_a_period_ending_before_it_starts_is_rejected(api):
    for path in ("/v1/kpis", "/v1/kpis.csv"):
        r = await api.get(path, params={"from": "2025-06-01", "to": "2025-01-01"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "from"


async def test_unknown_metric_and_interval_are_rejected(api):
    r = await api.get("/v1/kpis/timeseries", params={"metric": "bananas", "interval": "week"})
    assert r.status_code == 422
    assert sorted(e["field"] for e in r.json()["errors"]) == ["interval", "metric"]
