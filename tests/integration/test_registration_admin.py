"""Bootstrap of a fresh deployment (`cxc admin init`) and cluster/key management over the API, against
real PostgreSQL: the CLI as a process, the API in-process over ASGI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys

import httpx
import pytest

from services.registration.bootstrap import build
from services.registration.settings import RegistrationSettings
from tests.support.secrets import TEST_SECRETS

pytestmark = pytest.mark.integration

CLUSTERS = [
    ("silicon-saxony", "Silicon Saxony", "DE", "Dresden"),
    ("gaia", "GAIA", "ES", "San Sebastián"),
]


def cxc(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXC_")}
    env.update(TEST_SECRETS, CXC_DATABASE_URL=database_url, CXC_ENV="test")
    return subprocess.run([sys.executable, "-m", "cxc.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def init_args(*clusters, programme="EXCITE", coordinator="silicon-saxony") -> list[str]:
    args = ["admin", "init", "--programme", programme, "--coordinator-cluster", coordinator]
    for c in clusters:
        args += ["--cluster", *c]
    return args


@contextlib.asynccontextmanager
async def registration(database_url, kafka_bootstrap):
    service = build(RegistrationSettings(database_url=database_url, kafka_bootstrap=kafka_bootstrap))
    app = service.app()
    await service.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            client.pool = service.pool
            yield client
    finally:
        await service.stop()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def outbox_types(client) -> list[str]:
    return [r["event_type"] for r in await client.pool.fetch("SELECT event_type FROM outbox ORDER BY position")]


@pytest.fixture
async def bootstrapped(database_url, kafka_bootstrap):
    """A fresh database after `cxc admin init`, the registration API on it, and the printed key."""
    done = cxc(database_url, *init_args(*CLUSTERS))
    assert done.returncode == 0, done.stderr
    async with registration(database_url, kafka_bootstrap) as client:
        client.key = done.stdout.strip()
        yield client


async def test_admin_init_on_a_fresh_database_creates_clusters_and_prints_one_working_key(database_url,
                                                                                         kafka_bootstrap):
    first = cxc(database_url, *init_args(*CLUSTERS))
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert key.startswith("cxc_") and "\n" not in key, "stdout should hold the key alone, for $(...)"
    assert "cluster gaia: created" in first.stderr and "shown only this once" in first.stderr

    again = cxc(database_url, *init_args(*CLUSTERS))
    assert again.returncode == 0, again.stderr
    assert again.stdout == "", "a second run must not print (or issue) another key"
    assert "a coordinator key already exists" in again.stderr and "cxc keys rotate" in again.stderr
    assert "cluster gaia: unchanged" in again.stderr and "programme 'EXCITE': unchanged" in again.stderr

    async with registration(database_url, kafka_bootstrap) as api:
        r = await api.get("/v1/clusters", headers=bearer(key))
        assert r.status_code == 200, r.text
        assert [c["id"] for c in r.json()] == ["gaia", "silicon-saxony"]
        keys = await api.pool.fetch("SELECT role, cluster_id FROM api_keys WHERE revoked_at IS NULL")
        assert [(k["role"], k["cluster_id"]) for k in keys] == [("coordinator", "silicon-saxony")]
        # The key reaches the other services as an event, like any issued key.
        assert await outbox_types(api) == ["apikey.issued"]


async def test_admin_init_updates_a_renamed_cluster_and_adds_new_ones(database_url, kafka_bootstrap):
    assert cxc(database_url, *init_args(*CLUSTERS)).returncode == 0
    renamed = [CLUSTERS[0], ("gaia", "GAIA Cluster", "ES", "Bilbao"), ("pole-scs", "Pôle SCS", "FR", "Sophia")]
    done = cxc(database_url, *init_args(*renamed, programme="EXCITE 2"))
    assert done.returncode == 0, done.stderr
    assert "cluster gaia: updated" in done.stderr and "cluster pole-scs: created" in done.stderr
    assert "cluster silicon-saxony: unchanged" in done.stderr and "programme 'EXCITE 2': updated" in done.stderr
    async with registration(database_url, kafka_bootstrap) as api:
        row = await api.pool.fetchrow("SELECT name, city FROM clusters WHERE id = 'gaia'")
        assert dict(row) == {"name": "GAIA Cluster", "city": "Bilbao"}
        assert await api.pool.fetchval("SELECT name FROM programme") == "EXCITE 2"


async def test_admin_init_refuses_bad_input_with_a_readable_message(database_url, tmp_path):
    unknown = cxc(database_url, *init_args(*CLUSTERS, coordinator="nowhere"))
    assert unknown.returncode == 2 and "coordinator cluster 'nowhere'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    bad_country = cxc(database_url, *init_args(("gaia", "GAIA", "XX", "Bilbao"), coordinator="gaia"))
    assert bad_country.returncode == 2 and "clusters.0.country" in bad_country.stderr
    assert "Traceback" not in bad_country.stderr
    # Nothing was half-done by the refused runs: a valid file bootstraps afterwards.
    csv_file = tmp_path / "clusters.csv"
    csv_file.write_text("id,name,country,city\n" + "\n".join(",".join(c) for c in CLUSTERS) + "\n")
    ok = cxc(database_url, "admin", "init", "--programme", "EXCITE", "--coordinator-cluster", "gaia",
             "--clusters", str(csv_file))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("cxc_") and "cluster silicon-saxony: created" in ok.stderr


async def test_coordinator_adds_and_renames_clusters_over_the_api(bootstrapped):
    api, h = bootstrapped, bearer(bootstrapped.key)
    new = {"id": "mazovia-ict", "name": "Mazovia Cluster ICT", "country": "PL", "city": "Warsaw"}
    r = await api.post("/v1/clusters", json=new, headers=h)
    assert r.status_code == 201, r.text
    assert r.json() == new and r.headers["location"] == "/v1/clusters/mazovia-ict"
    again = await api.post("/v1/clusters", json=new, headers=h)
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    assert "PATCH /v1/clusters/mazovia-ict" in again.json()["detail"]

    r = await api.patch("/v1/clusters/mazovia-ict", json={"name": "Mazovia ICT"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {**new, "name": "Mazovia ICT"}
    missing = await api.patch("/v1/clusters/nowhere", json={"name": "X"}, headers=h)
    assert missing.status_code == 404 and missing.json()["type"].endswith("/not-found")
    empty = await api.patch("/v1/clusters/mazovia-ict", json={}, headers=h)
    assert empty.status_code == 422
    renamed_id = await api.patch("/v1/clusters/mazovia-ict", json={"id": "other"}, headers=h)
    assert renamed_id.status_code == 422, "a cluster's id never changes"


async def test_partner_keys_cannot_manage_clusters_or_keys(bootstrapped):
    api, h = bootstrapped, bearer(bootstrapped.key)
    r = await api.post("/v1/keys", json={"cluster_id": "gaia", "role": "partner", "label": "GAIA CRM"}, headers=h)
    assert r.status_code == 201, r.text
    partner = bearer(r.json()["key"])
    assert (await api.patch("/v1/clusters/gaia", json={"name": "X"}, headers=partner)).status_code == 403
    assert (await api.get("/v1/keys", headers=partner)).status_code == 403
    assert (await api.post("/v1/keys", json={"cluster_id": "gaia", "role": "coordinator"},
                           headers=partner)).status_code == 403
    assert (await api.get("/v1/keys", headers=bearer("cxc_not-a-key"))).status_code == 401


async def test_coordinator_keys_are_issued_listed_rotated_and_revoked_as_events(bootstrapped):
    api, h = bootstrapped, bearer(bootstrapped.key)
    await api.pool.execute("DELETE FROM outbox")

    r = await api.post("/v1/keys", json={"cluster_id": "gaia", "role": "coordinator", "label": "deputy"}, headers=h)
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    deputy = r.json()
    assert deputy["key"].startswith(deputy["prefix"]) and deputy["role"] == "coordinator"
    assert (await api.get("/v1/clusters", headers=bearer(deputy["key"]))).status_code == 200

    unknown = await api.post("/v1/keys", json={"cluster_id": "nowhere", "role": "partner"}, headers=h)
    assert unknown.status_code == 422 and unknown.json()["type"].endswith("/unknown-cluster")

    listed = (await api.get("/v1/keys", params={"role": "coordinator"}, headers=h)).json()
    assert {k["id"] for k in listed} == {deputy["id"], (await api.pool.fetchval(
        "SELECT id::text FROM api_keys WHERE label LIKE 'first coordinator%'"))}
    assert all("key" not in k for k in listed), "a listing never carries secrets"
    assert deputy["key"] not in json.dumps(listed)

    rotated = await api.post(f"/v1/keys/{deputy['id']}/rotate", headers=h)
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["replaces"] == deputy["id"] and new["label"] == "deputy" and new["cluster_id"] == "gaia"
    assert (await api.get("/v1/clusters", headers=bearer(deputy["key"]))).status_code == 401
    assert (await api.get("/v1/clusters", headers=bearer(new["key"]))).status_code == 200

    revoked = await api.delete(f"/v1/keys/{new['id']}", headers=h)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert (await api.get("/v1/clusters", headers=bearer(new["key"]))).status_code == 401
    assert (await api.delete(f"/v1/keys/{new['id']}", headers=h)).status_code == 404
    assert (await api.delete("/v1/keys/not-a-uuid", headers=h)).status_code == 404
    everything = (await api.get("/v1/keys", params={"include_revoked": "true"}, headers=h)).json()
    assert {k["id"] for k in everything if k["revoked_at"]} == {deputy["id"], new["id"]}

    assert await outbox_types(api) == ["apikey.issued", "apikey.issued", "apikey.revoked", "apikey.revoked"]


async def test_the_last_coordinator_key_cannot_be_revoked_only_rotated(bootstrapped):
    api, h = bootstrapped, bearer(bootstrapped.key)
    [only] = (await api.get("/v1/keys", params={"role": "coordinator"}, headers=h)).json()
    r = await api.delete(f"/v1/keys/{only['id']}", headers=h)
    assert r.status_code == 409 and r.json()["type"].endswith("/last-coordinator-key")
    assert "Rotate it" in r.json()["detail"]
    assert (await api.get("/v1/clusters", headers=h)).status_code == 200

    rotated = await api.post(f"/v1/keys/{only['id']}/rotate", headers=h)
    assert rotated.status_code == 201
    assert (await api.get("/v1/clusters", headers=h)).status_code == 401
    assert (await api.get("/v1/clusters", headers=bearer(rotated.json()["key"]))).status_code == 200


async def test_cxc_keys_rotate_replaces_a_key_from_the_command_line(bootstrapped, database_url):
    api = bootstrapped
    key_id = await api.pool.fetchval("SELECT id::text FROM api_keys WHERE role = 'coordinator'")
    done = cxc(database_url, "keys", "rotate", key_id)
    assert done.returncode == 0, done.stderr
    assert (await api.get("/v1/clusters", headers=bearer(bootstrapped.key))).status_code == 401
    assert (await api.get("/v1/clusters", headers=bearer(done.stdout.strip()))).status_code == 200
    assert cxc(database_url, "keys", "rotate", key_id).returncode == 2


async def test_two_coordinators_revoking_each_other_at_once_leave_one_key(bootstrapped):
    api, h = bootstrapped, bearer(bootstrapped.key)
    second = (await api.post("/v1/keys", json={"cluster_id": "gaia", "role": "coordinator"}, headers=h)).json()
    first_id = await api.pool.fetchval("SELECT id::text FROM api_keys WHERE label LIKE 'first coordinator%'")
    results = await asyncio.gather(api.delete(f"/v1/keys/{first_id}", headers=bearer(second["key"])),
                                   api.delete(f"/v1/keys/{second['id']}", headers=h))
    assert sorted(r.status_code for r in results) in ([200, 409], [200, 401]), [r.text for r in results]
    assert await api.pool.fetchval(
        "SELECT count(*) FROM api_keys WHERE role = 'coordinator' AND revoked_at IS NULL") == 1
