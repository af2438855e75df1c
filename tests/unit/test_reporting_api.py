"""Request validation of the reporting API: rejected as RFC 9457 problems naming the field.

Every route needs a key since issue 13, and a key is looked up in the database, so these run against a
migrated schema (without the service's workers)."""

from __future__ import annotations

import pytest

from tests.support.inprocess import key, serving


@pytest.fixture
async def api(database_url):
    async with serving("reporting", database_url) as client:
        client.headers.update(key(client, "coordinator"))
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


async def test_the_routes_domain_errors_become_problems_at_the_edge(api):
    r = await api.get("/v1/kpis", params={"from": "2025-06-01", "to": "2025-01-01"})
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json() == {"type": "https://clusterxchange.eu/problems/validation-error", "title": "Validation failed",
                        "status": 422, "detail": "'from' must not be after 'to'", "instance": "/v1/kpis",
                        "errors": [{"field": "from", "message": "after 'to'", "type": "value_error"}]}
    # a partner ("a", mazovia-ict) asking for another cluster's scoreboard
    r = await api.get("/v1/kpis", params={"cluster": "gaia"}, headers=key(api, "a"))
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/not-found") and r.json()["detail"] == "No scoreboard for cluster 'gaia'"
