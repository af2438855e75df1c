"""Limits on every service, from the one gate (issue 13, point 7): body size (413), request budgets per key
counted per batch item (429), 401 floods per client address (429), requests in flight (503), NUL characters."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from services.registration import seed
from shared.limits import Budgets
from tests.support.payloads import PARTICIPANT as BODY
from tests.support.inprocess import SERVICES, key, serving

pytestmark = pytest.mark.integration

# A write route of each service (any write: the body cap comes before the route).
WRITES = {
    "registration": "/v1/participants",
    "matchmaking": "/v1/meeting-requests",
    "notifications": "/v1/webhooks",
    "reporting": "/v1/dashboard-links",
}
CAP = 4096


@pytest.mark.parametrize("service", SERVICES)
async def test_bodies_over_the_cap_are_413_declared_or_chunked_and_unauthenticated_ones_are_not_read(service, database_url):
    async with serving(service, database_url, max_body_bytes=CAP) as api:
        path = WRITES[service]
        big = b'{"x": "' + b"a" * (CAP + 10) + b'"}'
        r = await api.post(path, content=big, headers={**key(api, "a"), "content-type": "application/json"})
        assert r.status_code == 413 and r.json()["type"].endswith("/payload-too-large"), r.text

        async def chunks():
            for _ in range(CAP // 512 + 2):
                yield b"a" * 512

        r = await api.post(path, content=chunks(), headers={**key(api, "a"), "content-type": "application/json"})
        assert r.status_code == 413, "a chunked body is counted while it is read"

        read = 0

        async def counted():
            nonlocal read
            for _ in range(50):
                read += 1
                yield b"a" * 1024

        r = await api.post(path, content=counted(), headers={"content-type": "application/json"})
        assert r.status_code == 401 and read <= 1, "without a key nothing is buffered"


@pytest.mark.parametrize("service", ["matchmaking", "notifications"])
async def test_nul_characters_are_refused_by_every_service(service, database_url):
    async with serving(service, database_url) as api:
        r = await api.post(WRITES[service], json={"url": "https://x.example/\u0000", "activity_id": "\u0000"},
                           headers=key(api, "a"))
        assert r.status_code == 422 and "NUL" in r.text
        r = await api.get("/v1/notifications?recipient=%00", headers=key(api, "a"))
        assert r.status_code == 422


async def test_a_batch_spends_one_request_per_item_and_a_refused_batch_spends_nothing_more(database_url):
    async with serving("registration", database_url, rate_limit_requests=10, rate_limit_window_s=3600) as api:
        async with api.pool.acquire() as conn:
            await seed.seed_clusters(conn)

        def batch(n: int, tag: str) -> dict:
            return {"items": [{**BODY, "name": f"Batch {tag} {i}", "external_ref": f"{tag}-{i}"} for i in range(n)]}

        too_big = await api.post("/v1/participants:batch", json=batch(11, "big"), headers=key(api, "a"))
        assert too_big.status_code == 429 and "Retry-After" in too_big.headers
        first = await api.post("/v1/participants:batch", json=batch(8, "one"), headers=key(api, "a"))
        assert first.status_code == 200, first.text
        # 1 (the refused batch's request) + 8 spent: one more request fits, a batch of two does not
        assert (await api.post("/v1/participants:batch", json=batch(2, "two"), headers=key(api, "a"))).status_code == 429
        assert (await api.get("/v1/clusters", headers=key(api, "a"))).status_code == 429, "the refused request counted"
        # another key has its own budget
        assert (await api.get("/v1/clusters", headers=key(api, "b"))).status_code == 200


@pytest.mark.parametrize("service", SERVICES)
async def test_every_service_limits_requests_per_key(service, database_url):
    async with serving(service, database_url, rate_limit_requests=3, rate_limit_window_s=3600) as api:
        # /openapi.json is served to anyone; any keyed route spends the key's budget
        statuses = [(await api.get("/v1/no-such-route", headers=key(api, "a"))).status_code for _ in range(4)]
        assert statuses == [404, 404, 404, 429]
        assert (await api.get("/v1/no-such-route", headers=key(api, "b"))).status_code == 404


@pytest.mark.parametrize("service", SERVICES)
async def test_a_401_flood_from_one_address_turns_into_429_without_locking_out_keys(service, database_url):
    async with serving(service, database_url, unauthenticated_limit=5, rate_limit_window_s=3600) as api:
        statuses = [(await api.get("/v1/no-such-route", headers={"Authorization": f"Bearer cxc_guess{i}"})).status_code
                    for i in range(5)]
        assert statuses == [401] * 5
        flooded = await api.get("/v1/no-such-route")
        assert flooded.status_code == 429 and int(flooded.headers["Retry-After"]) >= 1
        assert (await api.get("/v1/no-such-route", headers={"Authorization": "Bearer cxc_guess"})).status_code == 429
        # a valid key from the same address still works; another address is not affected
        assert (await api.get("/v1/no-such-route", headers=key(api, "a"))).status_code == 404
        other = httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app, client=("203.0.113.9", 1)),
                                  base_url="http://test")
        async with other:
            assert (await other.get("/v1/no-such-route")).status_code == 401
        assert await api.pool.fetchval("SELECT used FROM request_budgets WHERE bucket = 'addr:198.51.100.7'") == 5


async def test_requests_beyond_the_concurrency_cap_get_503_and_probes_still_answer(database_url):
    async with serving("matchmaking", database_url, max_concurrent_requests=1) as api:
        release = asyncio.Event()

        async def slow_body():
            yield b'{"activity_id": "x", '
            await release.wait()
            yield b'"requester_id": "y", "target_id": "z"}'

        slow = asyncio.create_task(api.post("/v1/meeting-requests", content=slow_body(),
                                            headers={**key(api, "a"), "content-type": "application/json"}))
        try:
            for _ in range(200):
                if await _in_flight(api) == 1:
                    break
                await asyncio.sleep(0.01)
            busy = await api.get("/v1/no-such-route", headers=key(api, "b"))
            assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
            assert (await api.get("/healthz")).status_code == 200
        finally:
            release.set()
            with contextlib.suppress(Exception):
                await slow
        assert (await api.get("/v1/no-such-route", headers=key(api, "b"))).status_code == 404


async def _in_flight(api) -> int:
    gate = api.app.middleware_stack
    while gate is not None and type(gate).__name__ != "Gate":
        gate = getattr(gate, "app", None)
    return gate.in_flight if gate is not None else -1


async def test_budgets_are_shared_through_the_database_and_expire_with_their_window(database_url):
    async with serving("reporting", database_url) as api:
        one, two = Budgets(api.pool, 3600), Budgets(api.pool, 3600)
        assert (await one.charge("key:x", 2, 3)).allowed
        assert not (await two.charge("key:x", 2, 3)).allowed, "a second replica sees the first one's spending"
        assert (await two.charge("key:x", 1, 3)).allowed
        persistence = await api.pool.fetchval(
            "SELECT relpersistence::text FROM pg_class WHERE relname = 'request_budgets' AND relnamespace = "
            "(SELECT oid FROM pg_namespace WHERE nspname = 'reporting')")
        assert persistence == "u", "UNLOGGED: counting a request never waits for a WAL flush"
        await api.pool.execute("UPDATE request_budgets SET window_no = window_no - 1")
        assert (await one.charge("key:x", 3, 3)).allowed, "a new window starts from zero"


async def test_401s_of_routes_with_their_own_credential_count_against_the_address_too(database_url):
    async with serving("reporting", database_url, unauthenticated_limit=3, rate_limit_window_s=3600) as api:
        statuses = [(await api.post("/signin", data={"key": f"cxc_guess{i}"})).status_code for i in range(4)]
        assert statuses[:3] == [401] * 3
        assert (await api.post("/signin", data={"key": "cxc_guess"})).status_code == 429
        assert (await api.get("/v1/kpis")).status_code == 429, "the address is blocked for key-less requests"
        assert (await api.get("/v1/kpis", headers=key(api, "a"))).status_code == 200
