"""Services in the test's own event loop: the registration service in-process over ASGI (with its relay and
consumers), any ASGI app behind a real HTTP server, and the module-wide broker a shared stack uses.

Test modules take the fixtures by importing them (``from tests.support.services import api  # noqa: F401``);
nothing here is a test module, so no test imports another."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from cxc.infra.embedded import EmbeddedBroker, free_port
from services.registration import seed
from services.registration.bootstrap import build
from services.registration.settings import RegistrationSettings
from shared import auth as api_keys
from tests.support.polling import eventually

# One key per role, by the names the tests use: partners of two clusters, a coordinator and ops.
KEYS = [
    ("mazovia", "mazovia-ict", "partner"), ("gaia", "gaia", "partner"),
    ("coordinator", "silicon-saxony", "coordinator"), ("ops", "silicon-saxony", "ops"),
]


async def issue_keys(conn) -> dict[str, str]:
    """The ``KEYS`` issued into a service's ``api_keys`` table: name → bearer secret."""
    return {name: (await api_keys.issue_key(conn, cluster, role, None, source="/test"))[1]
            for name, cluster, role in KEYS}


@contextlib.asynccontextmanager
async def running_registration(database_url: str, kafka_bootstrap: str, **settings) -> AsyncIterator[httpx.AsyncClient]:
    """The registration service in-process over ASGI, with seeded clusters, one key per role (``KEYS``) and an
    empty outbox. The client also carries ``internal`` (a client of the internal listener: contact and
    data-key lookups), ``keys``, ``pool`` and ``service``."""
    service = build(RegistrationSettings(database_url=database_url, kafka_bootstrap=kafka_bootstrap, **settings))
    app = service.app()
    await service.start()
    try:
        async with service.pool.acquire() as conn:
            await seed.seed_clusters(conn)
            keys = await issue_keys(conn)
            await conn.execute("DELETE FROM outbox")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client, \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=service.internal_app()),
                                  base_url="http://internal") as internal:
            client.internal = internal
            client.keys = keys
            client.pool = service.pool
            client.service = service
            yield client
    finally:
        try:
            await asyncio.wait_for(service.stop(), 15)
        except TimeoutError:
            for t in asyncio.all_tasks():
                t.print_stack(limit=10)
            raise


@pytest.fixture
async def api(database_url, kafka_bootstrap):
    """``running_registration`` for one test."""
    async with running_registration(database_url, kafka_bootstrap) as client:
        yield client


def auth(client, who: str) -> dict[str, str]:
    """The Authorization header of key ``who`` of a client from ``running_registration``."""
    return {"Authorization": f"Bearer {client.keys[who]}"}


async def outbox_events(client) -> list[dict]:
    """Registration's outbox, oldest first, as the envelopes' JSON."""
    return [json.loads(r["envelope"]) for r in await client.pool.fetch("SELECT envelope FROM outbox ORDER BY position")]


@contextlib.asynccontextmanager
async def serving_http(app) -> AsyncIterator[str]:
    """A real HTTP server (uvicorn, lifespan on) for an ASGI app in this event loop, on a free port; its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, timeout=30, interval=0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


@pytest.fixture(scope="module")
async def broker_bootstrap(external_bootstrap, tmp_path_factory):
    """One broker for a module whose tests share a stack and keep apart by fresh ids: the session's broker
    when there is one, else an embedded broker of the module's own."""
    if external_bootstrap:
        yield external_bootstrap
        return
    broker = EmbeddedBroker(free_port(), tmp_path_factory.mktemp("module-broker") / "broker.log")
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
