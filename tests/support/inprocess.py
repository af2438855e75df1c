"""The four services in-process over ASGI against real PostgreSQL, without their workers.

The gate and the routes need only the pool and the migrated schema, so these tests skip the consumers and
the outbox relay (no broker): a service comes up in well under a second. Keys are issued straight into
the service's own ``api_keys`` table, as the tests of each service do.
"""

from __future__ import annotations

import contextlib
import importlib
import uuid
from collections.abc import AsyncIterator

import httpx

from shared import auth as api_keys
from shared.db import create_pool, migrate
from shared.gate import flat_routes

SERVICES = ("registration", "matchmaking", "notifications", "reporting")
SETTINGS = {
    "registration": "RegistrationSettings", "matchmaking": "MatchmakingSettings",
    "notifications": "NotificationsSettings", "reporting": "ReportingSettings",
}
# Partner keys of two clusters (A and B), a coordinator and ops; the names the tests use.
KEYS = [
    ("a", "mazovia-ict", "partner"), ("b", "gaia", "partner"),
    ("coordinator", "silicon-saxony", "coordinator"), ("ops", "silicon-saxony", "ops"),
]
CLIENT = ("198.51.100.7", 50000)  # an address of the documentation range: the 401 budget is per address

DOCS = {("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc")}
PROBES = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}
# Reachable without an API key, and why: each carries its own credential or serves no data.
ALLOWLIST = {
    "registration": DOCS | PROBES,
    "matchmaking": DOCS | PROBES,
    # signed links in e-mails: the token is an HMAC of the participant id
    "notifications": DOCS | PROBES | {("GET", "/v1/unsubscribe/{participant_id}"),
                                      ("POST", "/v1/unsubscribe/{participant_id}")},
    # the sign-in form, the sign-in itself (the key is in the form) and one-time dashboard links
    "reporting": DOCS | PROBES | {("GET", "/signin"), ("POST", "/signin"), ("GET", "/signin/{token}")},
}
# Routes that do not take API keys but check their own service credential, so they still answer 401.
OWN_CREDENTIAL_PREFIX = "/internal/"


def settings_of(name: str, **overrides):
    module = importlib.import_module(f"services.{name}.settings")
    # An unreachable broker refuses at once; readiness then answers 503 quickly.
    return getattr(module, SETTINGS[name])(**{"kafka_bootstrap": "127.0.0.1:1", **overrides})


def build(name: str, settings):
    return importlib.import_module(f"services.{name}.bootstrap").build(settings)


def routes_of(app) -> list[tuple[str, str, object]]:
    """(method, path template, route) for every route of the app, HEAD left out (it follows GET)."""
    return [(method, route.path, route) for route in flat_routes(app) for method in sorted(route.methods or ())
            if method != "HEAD"]


def fill(path: str, values: dict[str, str] | None = None) -> str:
    """A concrete path for a template: given values, else a fresh UUID per parameter."""
    out = path
    while "{" in out:
        start, end = out.index("{"), out.index("}")
        name = out[start + 1:end].split(":")[0]
        out = out[:start] + (values or {}).get(name, str(uuid.uuid4())) + out[end + 1:]
    return out


@contextlib.asynccontextmanager
async def serving(name: str, database_url: str, *, seed_keys: bool = True, **overrides) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_of(name, database_url=database_url, **overrides)
    service = build(name, settings)
    service.pool = await create_pool(database_url, settings.db_schema, min_size=1, max_size=5)
    try:
        await migrate(service.pool, settings.db_schema, service.migrations)
        keys: dict[str, str] = {}
        if seed_keys:
            async with service.pool.acquire() as conn:
                for who, cluster, role in KEYS:
                    keys[who] = (await api_keys.issue_key(conn, cluster, role, None, source="/test"))[1]
                await conn.execute("DELETE FROM outbox")
        app = service.app()
        transport = httpx.ASGITransport(app=app, client=CLIENT)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.keys, client.pool, client.service, client.app = keys, service.pool, service, app
            yield client
    finally:
        await service.pool.close()


def key(client, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.keys[who]}"}
