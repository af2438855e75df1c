"""The registration ingress over real HTTP semantics (ASGI) with real PostgreSQL."""

import asyncio
import json

import httpx
import pytest

from services.registration import seed
from shared import auth as api_keys
from services.registration.bootstrap import build
from services.registration.settings import RegistrationSettings

pytestmark = pytest.mark.integration

BODY = {
    "kind": "sme", "name": "Score Digital", "country": "PL", "city": "Warsaw", "sectors": ["J62.01"],
    "keywords": ["smart mobility"], "offers": [{"type": "technology", "text": "V2X platform"}], "requests": [],
    "contact": {"name": "Daniel Hekman", "email": "daniel@score.example"},
    "consent": {"data_processing": True, "marketing": False},
}


@pytest.fixture
async def api(database_url, kafka_bootstrap):
    service = build(RegistrationSettings(database_url=database_url, kafka_bootstrap=kafka_bootstrap))
    app = service.app()
    await service.start()
    async with service.pool.acquire() as conn:
        await seed.seed_clusters(conn)
        keys = {
            name: (await api_keys.issue_key(conn, cluster, role, None, source="/test"))[1]
            for name, cluster, role in [
                ("mazovia", "mazovia-ict", "partner"), ("gaia", "gaia", "partner"),
                ("coordinator", "silicon-saxony", "coordinator"), ("ops", "silicon-saxony", "ops"),
            ]
        }
        await conn.execute("DELETE FROM outbox")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        client.keys = keys
        client.pool = service.pool
        yield client
    try:
        await asyncio.wait_for(service.stop(), 15)
    except TimeoutError:
        for t in asyncio.all_tasks():
            t.print_stack(limit=10)
        raise


def auth(client, who):
    return {"Authorization": f"Bearer {client.keys[who]}"}


async def outbox_events(client):
    return [json.loads(r["envelope"]) for r in await client.pool.fetch("SELECT envelope FROM outbox ORDER BY position")]


async def test_partner_registers_a_participant_and_one_event_is_recorded(api):
    r = await api.post("/v1/participants", json=BODY, headers=auth(api, "mazovia"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["cluster_id"] == "mazovia-ict" and body["status"] == "registered"
    assert r.headers["location"] == f"/v1/participants/{body['id']}"
    [event] = await outbox_events(api)
    assert event["type"] == "participant.registered" and event["subject"] == body["id"]
    assert "daniel@score.example" not in json.dumps(event), "contact data must not enter the event log"


async def test_bad_body_gets_a_problem_naming_the_field_and_publishes_nothing(api):
    r = await api.post("/v1/participants", json={**BODY, "country": "XX"}, headers=auth(api, "mazovia"))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert {"type", "title", "status", "detail"} <= problem.keys()
    assert [e["field"] for e in problem["errors"]] == ["country"]
    assert await outbox_events(api) == []


async def test_unknown_fields_are_rejected(api):
    r = await api.post("/v1/participants", json={**BODY, "favourite_colour": "red"}, headers=auth(api, "mazovia"))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "favourite_colour"


@pytest.mark.parametrize("header", [None, "Bearer cxc_not_a_real_key", "Basic Zm9vOmJhcg=="])
async def test_missing_or_unknown_key_is_401(api, header):
    headers = {"Authorization": header} if header else {}
    r = await api.post("/v1/participants", json=BODY, headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await outbox_events(api) == []


async def test_ops_key_cannot_register(api):
    r = await api.post("/v1/participants", json=BODY, headers=auth(api, "ops"))
    assert r.status_code == 403


async def test_partner_cannot_register_into_another_cluster(api):
    r = await api.post("/v1/participants", json={**BODY, "cluster_id": "gaia"}, headers=auth(api, "mazovia"))
    assert r.status_code == 403


async def test_coordinator_registers_into_a_named_cluster(api):
    r = await api.post("/v1/participants", json={**BODY, "cluster_id": "gaia"}, headers=auth(api, "coordinator"))
    assert r.status_code == 201 and r.json()["cluster_id"] == "gaia"
    r = await api.post("/v1/participants", json=BODY, headers=auth(api, "coordinator"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cluster_id"


async def test_another_partners_participant_is_a_404(api):
    created = (await api.post("/v1/participants", json=BODY, headers=auth(api, "mazovia"))).json()
    own = await api.get(f"/v1/participants/{created['id']}", headers=auth(api, "mazovia"))
    assert own.status_code == 200 and own.json()["contact"]["email"] == "daniel@score.example"
    other = await api.get(f"/v1/participants/{created['id']}", headers=auth(api, "gaia"))
    assert other.status_code == 404


async def test_retry_with_the_same_external_ref_creates_no_duplicate(api):
    body = {**BODY, "external_ref": "crm-4711"}
    first = await api.post("/v1/participants", json=body, headers=auth(api, "mazovia"))
    again = await api.post("/v1/participants", json=body, headers=auth(api, "mazovia"))
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert len(await outbox_events(api)) == 1


async def test_health_readiness_and_metrics_are_served(api):
    assert (await api.get("/healthz")).json()["status"] == "ok"
    ready = await api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": True, "broker": True, "workers": True, "consumers": True}
    metrics = await api.get("/metrics")
    assert "cxc_outbox_pending" in metrics.text


async def test_internal_contact_lookup_needs_the_service_token(api):
    created = (await api.post("/v1/participants", json=BODY, headers=auth(api, "mazovia"))).json()
    path = f"/internal/v1/contacts/{created['id']}"
    assert (await api.get(path, headers=auth(api, "coordinator"))).status_code == 401
    r = await api.get(path, headers={"Authorization": "Bearer dev-internal-token"})
    assert r.status_code == 200
    assert r.json()["email"] == "daniel@score.example" and r.json()["language"] == "en"
