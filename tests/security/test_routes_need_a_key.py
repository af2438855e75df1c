"""Every route of every service needs a key, except an explicit allowlist (issue 13, point 1).

The walk iterates the routes of each FastAPI app (not only its OpenAPI, which leaves out hidden routes),
fills the path parameters and calls every method without a key and with malformed keys. A new route is
covered without editing this file; a new *public* route fails here until it is added to the allowlist
(``ALLOWLIST`` in tests/support/inprocess.py, shared with the cross-tenant matrix)."""

from __future__ import annotations

import pytest

from services.notifications.bootstrap import build as build_notifications
from services.notifications.settings import NotificationsSettings
from services.reporting.bootstrap import build as build_reporting
from services.reporting.settings import ReportingSettings
from shared.gate import flat_routes
from tests.support.inprocess import ALLOWLIST, OWN_CREDENTIAL_PREFIX, SERVICES, fill, routes_of, serving

pytestmark = pytest.mark.integration

MALFORMED = [
    "Bearer",
    "Bearer ",
    "Basic Zm9vOmJhcg==",
    "Bearer cxc_not_a_key",
    "Bearer " + "A" * 20_000,
    "Bearer\tcxc_tab",
    "bearer cxc_" + "\u00e9\u00e8" * 4,      # non-ASCII (sent as UTF-8 bytes)
    "Bearer \u0441\u0435\u043a\u0440\u0435\u0442",  # Cyrillic
    "Bearer cxc_\x01\x02",                    # control characters
]


def _expected_open(service: str, method: str, path: str) -> bool:
    return (method, path) in ALLOWLIST[service]


@pytest.mark.parametrize("service", SERVICES)
async def test_every_route_without_a_key_is_401_except_the_allowlist(service, database_url):
    async with serving(service, database_url, unauthenticated_limit=100_000) as api:
        walked = routes_of(api.app)
        assert len(walked) > 8, "the walk found the routes"
        for method, path, _ in walked:
            r = await api.request(method, fill(path), json={} if method in ("POST", "PATCH", "PUT") else None)
            if _expected_open(service, method, path):
                # the gate let it through: the route's own answer (a sign-in with no key is its own 401 page)
                assert r.status_code != 500 and not r.headers["content-type"].startswith("application/problem+json") \
                    or r.json()["type"].rsplit("/", 1)[-1] != "unauthorized", (method, path, r.status_code, r.text)
            else:
                assert r.status_code == 401, (method, path, r.status_code, r.text)
                assert r.headers["content-type"].startswith("application/problem+json"), (method, path)
                if not path.startswith(OWN_CREDENTIAL_PREFIX):
                    assert r.headers["www-authenticate"].startswith("Bearer"), (method, path)
        # a path that matches no route is 401 too: no probing for routes without a key
        assert (await api.get("/v1/no-such-route")).status_code == 401


@pytest.mark.parametrize("service", SERVICES)
async def test_malformed_and_non_ascii_authorization_headers_are_401_never_500(service, database_url):
    async with serving(service, database_url, unauthenticated_limit=100_000) as api:
        for method, path, _ in routes_of(api.app):
            if _expected_open(service, method, path) or path.startswith(OWN_CREDENTIAL_PREFIX):
                continue
            for header in MALFORMED:
                r = await api.request(method, fill(path), headers={"Authorization": header.encode("utf-8")})
                assert r.status_code == 401, (method, path, header[:20], r.status_code, r.text)


@pytest.mark.parametrize("service", SERVICES)
async def test_openapi_declares_the_bearer_scheme_and_marks_only_public_operations_open(service, database_url):
    async with serving(service, database_url) as api:
        doc = (await api.get("/openapi.json")).json()
    assert doc["components"]["securitySchemes"]["apiKey"] == {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["apiKey"]["description"]}
    assert doc["security"] == [{"apiKey": []}]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            open_ = operation.get("security") == []
            assert open_ == _expected_open(service, method.upper(), path), (method, path)


def test_the_test_only_inbox_route_exists_in_dev_and_test_builds_only():
    def paths(settings) -> set[str]:
        return {r.path for r in flat_routes(build_notifications(settings).app())}

    base = NotificationsSettings()
    assert "/v1/received-events" in paths(base.model_copy(update={"env": "test"}))
    assert "/v1/received-events" in paths(base.model_copy(update={"env": "dev"}))
    assert "/v1/received-events" not in paths(base.model_copy(update={"env": "prod"}))


async def test_the_public_scoreboard_setting_opens_the_scoreboard_routes_and_nothing_else(database_url):
    closed = {r.path for r in flat_routes(build_reporting(ReportingSettings()).app())}
    async with serving("reporting", database_url, public_scoreboard=True, unauthenticated_limit=100_000) as api:
        for method, path, _ in routes_of(api.app):
            if _expected_open("reporting", method, path):
                continue
            r = await api.request(method, fill(path))
            if path in ("/v1/kpis", "/v1/kpis.csv", "/"):
                assert r.status_code == 200, (path, r.text)
            elif path == "/v1/kpis/timeseries":
                assert r.status_code == 422, "open, and the missing metric is the only complaint"
            else:
                assert r.status_code == 401, (method, path, r.status_code)
        doc = (await api.get("/openapi.json")).json()
        assert doc["paths"]["/v1/kpis"]["get"]["security"] == [{}, {"apiKey": []}], "a key is optional there"
        assert "security" not in doc["paths"]["/v1/stream/lag"]["get"], "the global requirement applies"
    assert "/v1/kpis" in closed


async def test_routes_with_their_own_credential_get_the_authorization_header_untouched(database_url):
    """The internal lookups take the service token in ``Authorization: Bearer``: the gate must not mistake
    it for an unknown API key."""
    async with serving("registration", database_url, unauthenticated_limit=100_000) as api:
        token = api.service.settings.internal_token.get_secret_value()
        for path in [r.path for r in flat_routes(api.app) if r.path.startswith(OWN_CREDENTIAL_PREFIX)]:
            r = await api.get(fill(path), headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 404, (path, r.status_code, r.text)  # past the token check: no such participant
            assert (await api.get(fill(path), headers={"Authorization": "Bearer wrong"})).status_code == 401
