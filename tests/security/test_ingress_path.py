"""The ingress path of issue 15: bearer keys cached briefly per process with revocation still effective, and a
registration served on one pooled connection with the request budget spent outside the write transaction."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from services.registration import seed
from shared import auth as api_keys
from shared.auth import Caller, KeyCache
from tests.support.inprocess import key, serving
from tests.support.payloads import PARTICIPANT as BODY

pytestmark = pytest.mark.integration

WHO = Caller(cluster_id="gaia", role="partner", key_id=str(uuid.uuid4()))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_cached_key_expires_after_its_ttl():
    clock = Clock()
    cache = KeyCache(5, clock=clock)
    cache.put(b"d", WHO)
    clock.now += 4.9
    assert cache.get(b"d") == WHO
    clock.now += 0.2
    assert cache.get(b"d") is None


def test_forgetting_a_key_drops_it_from_every_cache_of_the_process_and_ttl_0_caches_nothing():
    first, second, off = KeyCache(5), KeyCache(5), KeyCache(0)
    other = Caller(cluster_id="gaia", role="partner", key_id=str(uuid.uuid4()))
    for cache in (first, second, off):
        cache.put(b"d", WHO)
        cache.put(b"e", other)
    KeyCache.forget_key(WHO.key_id)
    assert first.get(b"d") is None and second.get(b"d") is None
    assert first.get(b"e") == other, "only the revoked key is forgotten"
    assert off.get(b"e") is None


def _gate_cache(digest: bytes) -> KeyCache:
    [cache] = [c for c in list(KeyCache._every) if c.get(digest) is not None]
    return cache


async def test_a_key_revoked_by_another_process_gets_401_once_the_ttl_has_passed(database_url):
    async with serving("registration", database_url, auth_cache_ttl_s=5) as api:
        assert (await api.get("/v1/clusters", headers=key(api, "a"))).status_code == 200
        digest = api_keys.digest(api.keys["a"])
        cache = _gate_cache(digest)
        who = cache.get(digest)
        clock = Clock()
        cache.clock = clock
        cache.put(digest, who)  # cached again at the test's clock's time: the TTL runs from here
        # Another replica revokes it: this process is not told, only its database row changes.
        await api.pool.execute("UPDATE api_keys SET revoked_at = now() WHERE key_hash = $1", digest)
        clock.now += 4.0
        assert (await api.get("/v1/clusters", headers=key(api, "a"))).status_code == 200, "within the TTL: cached"
        clock.now += 1.0
        r = await api.get("/v1/clusters", headers=key(api, "a"))
        assert r.status_code == 401 and r.json()["detail"] == "The API key is unknown or revoked"
        clock.now += 100
        assert (await api.get("/v1/clusters", headers=key(api, "a"))).status_code == 401, "a refusal is not cached"


async def test_a_key_revoked_in_this_process_gets_401_at_once(database_url):
    async with serving("registration", database_url, auth_cache_ttl_s=60) as api:
        assert (await api.get("/v1/clusters", headers=key(api, "b"))).status_code == 200
        key_id = await api.pool.fetchval("SELECT id::text FROM api_keys WHERE key_hash = $1",
                                         api_keys.digest(api.keys["b"]))
        async with api.pool.acquire() as conn, conn.transaction():
            assert await api_keys.revoke_key(conn, key_id, source="/test")
        assert (await api.get("/v1/clusters", headers=key(api, "b"))).status_code == 401


async def test_a_registration_takes_one_connection_and_spends_its_budget_outside_the_write_transaction(
    database_url, monkeypatch
):
    async with serving("registration", database_url, rate_limit_requests=2, rate_limit_window_s=3600) as api:
        async with api.pool.acquire() as conn:
            await seed.seed_clusters(conn)
        assert (await api.post("/v1/participants", json=BODY, headers=key(api, "a"))).status_code == 201

        acquisitions = 0
        budget_in_transaction: list[bool] = []
        real_acquire, real_fetchval = asyncpg.Pool.acquire, asyncpg.Connection.fetchval

        def acquire(pool, *args, **kwargs):
            nonlocal acquisitions
            acquisitions += pool is api.pool
            return real_acquire(pool, *args, **kwargs)

        async def fetchval(self, query, *args, **kwargs):
            if "request_budgets" in query:
                budget_in_transaction.append(self.is_in_transaction())
            return await real_fetchval(self, query, *args, **kwargs)

        monkeypatch.setattr(asyncpg.Pool, "acquire", acquire)
        monkeypatch.setattr(asyncpg.Connection, "fetchval", fetchval)
        created = await api.post("/v1/participants", json={**BODY, "name": "Second GmbH"},
                                 headers={**key(api, "a"), "Idempotency-Key": str(uuid.uuid4())})
        assert created.status_code == 201, created.text
        assert acquisitions == 1, "auth (cached), budget and write share one pooled connection"
        assert budget_in_transaction == [False], "the budget row is never locked across the write's commit"
        # The budget is still enforced on that path (2 per window: both spent).
        refused = await api.post("/v1/participants", json={**BODY, "name": "Third GmbH"}, headers=key(api, "a"))
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        assert await api.pool.fetchval("SELECT count(*) FROM participants") == 2
