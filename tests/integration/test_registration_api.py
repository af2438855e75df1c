"""The registration ingress over real HTTP semantics (ASGI) with real PostgreSQL."""

import asyncio
import json

import httpx
import pytest

from shared import privacy
from services.registration.bootstrap import build
from services.registration.settings import RegistrationSettings
from tests.support.secrets import TEST_SECRETS
from tests.support.payloads import PARTICIPANT
from tests.support.polling import eventually
from tests.support.services import api, auth, outbox_events, running_registration as running_api  # noqa: F401

INTERNAL = {"Authorization": f"Bearer {TEST_SECRETS['CXC_INTERNAL_TOKEN']}"}

pytestmark = pytest.mark.integration

BODY = PARTICIPANT


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
    # The broker monitor probes in the background; registration has no consumers (it issues the keys).
    ready = await eventually(lambda: _ready_with_broker(api))
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "broker": "ok", "workers": "ok"}
    assert ready.json()["status"] == "ok" and ready.json()["outbox"]["pending"] >= 0
    metrics = await api.get("/metrics")
    assert "cxc_outbox_pending" in metrics.text


async def _ready_with_broker(api):
    ready = await api.get("/readyz")
    return ready if ready.json()["checks"]["broker"] == "ok" else None


async def test_internal_contact_lookup_needs_the_service_token(api):
    created = (await api.post("/v1/participants", json=BODY, headers=auth(api, "mazovia"))).json()
    path = f"/internal/v1/contacts/{created['id']}"
    on_public = await api.get(path, headers=INTERNAL)
    assert on_public.status_code in (401, 404) and "daniel@score.example" not in on_public.text
    assert (await api.internal.get(path, headers=auth(api, "coordinator"))).status_code == 401
    assert (await api.internal.get(path, headers={"Authorization": "Bearer tökén".encode("latin-1")})).status_code == 401
    r = await api.internal.get(path, headers=INTERNAL)
    assert r.status_code == 200
    assert r.json()["email"] == "daniel@score.example" and r.json()["language"] == "en"


# --- Idempotency-Key -----------------------------------------------------------------------------


async def participant_count(client) -> int:
    return await client.pool.fetchval("SELECT count(*) FROM participants")


async def test_same_idempotency_key_and_body_replays_the_response_and_publishes_nothing(api):
    headers = {**auth(api, "mazovia"), "Idempotency-Key": "reg-1"}
    first = await api.post("/v1/participants", json=BODY, headers=headers)
    # Same JSON value with another key order: still the same request.
    again = await api.post("/v1/participants", content=json.dumps(dict(reversed(BODY.items()))),
                           headers={**headers, "content-type": "application/json"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert await participant_count(api) == 1
    assert len(await outbox_events(api)) == 1


async def test_same_idempotency_key_with_another_body_is_422_and_changes_nothing(api):
    headers = {**auth(api, "mazovia"), "Idempotency-Key": "reg-2"}
    assert (await api.post("/v1/participants", json=BODY, headers=headers)).status_code == 201
    r = await api.post("/v1/participants", json={**BODY, "name": "Other GmbH"}, headers=headers)
    assert r.status_code == 422 and r.json()["type"].endswith("/idempotency-key-reused")
    assert await participant_count(api) == 1 and len(await outbox_events(api)) == 1


async def test_idempotency_keys_are_scoped_to_the_api_key(api):
    first = await api.post("/v1/participants", json=BODY, headers={**auth(api, "mazovia"), "Idempotency-Key": "k"})
    other = await api.post("/v1/participants", json=BODY, headers={**auth(api, "gaia"), "Idempotency-Key": "k"})
    assert first.status_code == other.status_code == 201
    assert other.json()["cluster_id"] == "gaia" and other.json()["id"] != first.json()["id"]


async def test_a_failed_write_does_not_burn_its_idempotency_key(api):
    headers = {**auth(api, "coordinator"), "Idempotency-Key": "retry-after-fix"}
    bad = await api.post("/v1/participants", json={**BODY, "cluster_id": "no-such-cluster"}, headers=headers)
    assert bad.status_code == 422
    good = await api.post("/v1/participants", json={**BODY, "cluster_id": "no-such-cluster"}, headers=headers)
    assert good.status_code == 422  # still evaluated, not replayed from a stored failure
    assert "idempotent-replayed" not in good.headers


async def test_concurrent_duplicate_posts_with_one_idempotency_key_create_exactly_one_participant(api):
    headers = {**auth(api, "mazovia"), "Idempotency-Key": "burst"}
    replies = await asyncio.gather(*(api.post("/v1/participants", json=BODY, headers=headers) for _ in range(8)))
    assert {r.status_code for r in replies} == {201}
    assert len({r.json()["id"] for r in replies}) == 1
    assert await participant_count(api) == 1
    assert len(await outbox_events(api)) == 1


async def test_concurrent_duplicate_posts_with_one_external_ref_create_exactly_one_participant(api):
    body = {**BODY, "external_ref": "crm-race"}
    replies = await asyncio.gather(*(api.post("/v1/participants", json=body, headers=auth(api, "mazovia"))
                                     for _ in range(8)))
    assert sorted(r.status_code for r in replies) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in replies}) == 1
    assert await participant_count(api) == 1 and len(await outbox_events(api)) == 1


async def test_idempotency_key_works_on_other_writes_too(api):
    created = (await api.post("/v1/participants", json=BODY, headers=auth(api, "mazovia"))).json()
    headers = {**auth(api, "mazovia"), "Idempotency-Key": "patch-1"}
    first = await api.patch(f"/v1/participants/{created['id']}", json={"city": "Krakow"}, headers=headers)
    # Changed behind the key's back: a replay still answers what the first call answered.
    await api.patch(f"/v1/participants/{created['id']}", json={"city": "Gdansk"}, headers=auth(api, "mazovia"))
    again = await api.patch(f"/v1/participants/{created['id']}", json={"city": "Krakow"}, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert [e["type"] for e in await outbox_events(api)] == [
        "participant.registered", "participant.updated", "participant.updated"]


# --- PATCH -----------------------------------------------------------------------------------------


async def test_patch_updates_the_profile_and_publishes_what_changed(api):
    created = (await api.post("/v1/participants", json=BODY, headers=auth(api, "mazovia"))).json()
    r = await api.patch(f"/v1/participants/{created['id']}",
                        json={"city": None, "keywords": ["v2x", "5g"], "name": "Score Digital"},
                        headers=auth(api, "mazovia"))
    assert r.status_code == 200, r.text
    assert r.json()["city"] is None and r.json()["keywords"] == ["v2x", "5g"]
    event = (await outbox_events(api))[-1]
    assert event["type"] == "participant.updated" and event["subject"] == created["id"]
    assert event["data"]["changed"] == ["city", "keywords"]
    # Keywords are free text: they travel sealed with the participant's data key, not in the clear profile.
    assert "keywords" not in event["data"]["profile"] and "v2x" not in json.dumps(event)
    key = await api.pool.fetchval("SELECT data_key FROM participant_keys WHERE participant_id = $1::uuid",
                                  created["id"])
    sealed = privacy.Sealed(**event["data"]["personal"])
    assert privacy.open_with(key, sealed, privacy.PROFILE)["keywords"] == ["v2x", "5g"]


async def test_patch_of_the_contact_publishes_no_contact_data(api):
    created = (await api.post("/v1/participants", json=BODY, headers=auth(api, "mazovia"))).json()
    r = await api.patch(f"/v1/participants/{created['id']}",
                        json={"contact": {"name": "Ewa Nowak", "email": "ewa@score.example", "language": "pl"}},
                        headers=auth(api, "mazovia"))
    assert r.status_code == 200 and r.json()["contact"]["email"] == "ewa@score.example"
    event = (await outbox_events(api))[-1]
    assert event["data"]["changed"] == ["contact"] and "ewa@" not in json.dumps(event)


async def test_patch_that_changes_nothing_publishes_nothing(api):
    created = (await api.post("/v1/participants", json=BODY, headers=auth(api, "mazovia"))).json()
    r = await api.patch(f"/v1/participants/{created['id']}", json={"city": "Warsaw"}, headers=auth(api, "mazovia"))
    assert r.status_code == 200
    assert len(await outbox_events(api)) == 1


async def test_patch_refuses_bad_values_and_another_partners_participant(api):
    created = (await api.post("/v1/participants", json=BODY, headers=auth(api, "mazovia"))).json()
    path = f"/v1/participants/{created['id']}"
    bad = await api.patch(path, json={"country": "XX"}, headers=auth(api, "mazovia"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "country"
    assert (await api.patch(path, json={"name": None}, headers=auth(api, "mazovia"))).status_code == 422
    assert (await api.patch(path, json={"city": "Paris"}, headers=auth(api, "gaia"))).status_code == 404
    assert (await api.patch(path, json={"city": "Paris"}, headers=auth(api, "ops"))).status_code == 403
    assert len(await outbox_events(api)) == 1


# --- listing -------------------------------------------------------------------------------------


async def test_list_pages_through_every_participant_once_with_a_cursor(api):
    ids = set()
    for i in range(7):
        r = await api.post("/v1/participants", json={**BODY, "name": f"Company {i}"}, headers=auth(api, "mazovia"))
        ids.add(r.json()["id"])
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/participants", params=params, headers=auth(api, "mazovia"))).json()
        seen += [p["id"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 7 and set(seen) == ids


async def test_list_filters_by_kind_and_country_and_partners_see_only_their_cluster(api):
    await api.post("/v1/participants", json=BODY, headers=auth(api, "mazovia"))
    await api.post("/v1/participants", json={**BODY, "kind": "research", "country": "DE"}, headers=auth(api, "mazovia"))
    await api.post("/v1/participants", json={**BODY, "country": "ES"}, headers=auth(api, "gaia"))

    async def names(who, **params):
        r = await api.get("/v1/participants", params=params, headers=auth(api, who))
        assert r.status_code == 200, r.text
        return sorted((p["cluster_id"], p["kind"], p["country"]) for p in r.json()["items"])

    assert await names("mazovia") == [("mazovia-ict", "research", "DE"), ("mazovia-ict", "sme", "PL")]
    assert await names("mazovia", kind="research") == [("mazovia-ict", "research", "DE")]
    assert await names("mazovia", country="pl") == [("mazovia-ict", "sme", "PL")]
    assert await names("mazovia", cluster_id="gaia") == []
    assert await names("coordinator", country="ES") == [("gaia", "sme", "ES")]
    assert len(await names("ops")) == 3


async def test_list_rejects_a_forged_cursor_and_a_bad_filter(api):
    r = await api.get("/v1/participants", params={"cursor": "bm9wZQ"}, headers=auth(api, "mazovia"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
    r = await api.get("/v1/participants", params={"kind": "startup"}, headers=auth(api, "mazovia"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"


# --- GDPR erasure ----------------------------------------------------------------------------------


async def tables_mentioning(client, *needles: str) -> dict[str, int]:
    """Every table of the service's schema, searched as text for the needles."""
    tables = [r["table_name"] for r in await client.pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")]
    assert {"participants", "participant_contacts", "outbox", "idempotency_keys", "exchanges"} <= set(tables)
    found = {}
    for table in tables:
        for needle in needles:
            n = await client.pool.fetchval(f'SELECT count(*) FROM "{table}" t WHERE t::text ILIKE $1', f"%{needle}%")
            if n:
                found[f"{table}:{needle}"] = n
    return found


EXCHANGE = {"host_cluster_id": "gaia", "kind": "sme_exchange", "start_date": "2026-06-01", "end_date": "2026-06-12",
            "goals": "Meet Basque mobility integrators"}


async def test_erasure_cancels_the_open_exchange_then_removes_every_copy_of_the_contact(api):
    body = {**BODY, "contact": {"name": "Daniel Hekman", "email": "daniel@score.example", "phone": "+48 600 100 200"}}
    headers = {**auth(api, "mazovia"), "Idempotency-Key": "with-contact"}
    created = (await api.post("/v1/participants", json=body, headers=headers)).json()
    pid = created["id"]
    await api.patch(f"/v1/participants/{pid}", json={"city": "Lodz"}, headers={**headers, "Idempotency-Key": "p"})
    goals = "Daniel Hekman (+48 600 100 200) meets Basque integrators"
    x = await api.post("/v1/exchanges", json={**EXCHANGE, "participant_id": pid, "goals": goals},
                       headers={**auth(api, "mazovia"), "Idempotency-Key": "apply"})
    assert x.status_code == 201, x.text
    assert await tables_mentioning(api, "Hekman", "daniel@score.example", "600 100 200")

    r = await api.delete(f"/v1/participants/{pid}", headers=auth(api, "mazovia"))
    assert r.status_code == 202 and r.json() == {"id": pid, "status": "erased"}

    assert await tables_mentioning(api, "Hekman", "daniel@score.example", "600 100 200") == {}
    events = [(e["type"], e["subject"]) for e in await outbox_events(api)]
    assert events[-2:] == [("exchange.cancelled", x.json()["id"]), ("participant.erased", pid)]
    cancelled = (await api.get(f"/v1/exchanges/{x.json()['id']}", headers=auth(api, "mazovia"))).json()
    assert cancelled["status"] == "cancelled" and "erased" in cancelled["cancel_reason"]
    assert cancelled["goals"] == "[erased]"  # free text about the person: none of it stays
    assert (await api.get(f"/v1/participants/{pid}", headers=auth(api, "mazovia"))).status_code == 404
    lookup = await api.internal.get(f"/internal/v1/contacts/{pid}", headers=INTERNAL)
    assert lookup.status_code == 404
    # A late retry of the original registration does not bring the person back, nor any of their data.
    retry = await api.post("/v1/participants", json=body, headers=headers)
    assert retry.status_code == 410 and retry.headers["content-type"].startswith("application/problem+json")
    assert pid not in retry.text and "Hekman" not in retry.text
    replayed = await api.post("/v1/exchanges", json={**EXCHANGE, "participant_id": pid, "goals": goals},
                              headers={**auth(api, "mazovia"), "Idempotency-Key": "apply"})
    assert replayed.status_code == 410 and pid not in replayed.text
    assert await api.pool.fetchval("SELECT count(*) FROM participant_keys") == 0  # the data key is destroyed
    assert await api.pool.fetchval("SELECT count(*) FROM participants") == 1
    # A retry of the erasure is accepted again and publishes nothing more.
    assert (await api.delete(f"/v1/participants/{pid}", headers=auth(api, "mazovia"))).status_code == 202
    assert len(await outbox_events(api)) == len(events)


async def test_erasure_of_another_partners_participant_is_a_404_and_ops_may_not_erase(api):
    pid = (await api.post("/v1/participants", json=BODY, headers=auth(api, "mazovia"))).json()["id"]
    assert (await api.delete(f"/v1/participants/{pid}", headers=auth(api, "gaia"))).status_code == 404
    assert (await api.delete(f"/v1/participants/{pid}", headers=auth(api, "ops"))).status_code == 403
    assert (await api.delete("/v1/participants/not-a-uuid", headers=auth(api, "mazovia"))).status_code == 404
    assert await tables_mentioning(api, "daniel@score.example")


async def test_an_erased_participant_is_not_listed_and_cannot_apply(api):
    pid = (await api.post("/v1/participants", json=BODY, headers=auth(api, "mazovia"))).json()["id"]
    x = await api.post("/v1/exchanges", json={**EXCHANGE, "participant_id": pid, "goals": "Daniel Hekman goes"},
                       headers=auth(api, "mazovia"))
    await api.post(f"/v1/exchanges/{x.json()['id']}/cancel", headers=auth(api, "mazovia"))
    await api.delete(f"/v1/participants/{pid}", headers=auth(api, "coordinator"))
    listed = (await api.get("/v1/participants", headers=auth(api, "mazovia"))).json()["items"]
    assert listed == []
    r = await api.post("/v1/exchanges", json={**EXCHANGE, "participant_id": pid}, headers=auth(api, "mazovia"))
    assert r.status_code == 404
    # A closed exchange is not cancelled again, but its free text is scrubbed all the same (no phone given).
    assert [e["type"] for e in await outbox_events(api)].count("exchange.cancelled") == 1
    assert await tables_mentioning(api, "Hekman") == {}


# --- limits ----------------------------------------------------------------------------------------


async def test_an_oversized_body_is_413_and_changes_nothing(database_url, kafka_bootstrap):
    async with running_api(database_url, kafka_bootstrap, max_body_bytes=2000) as api:
        big = {**BODY, "offers": [{"type": "technology", "text": "x" * 1900}]}
        r = await api.post("/v1/participants", json=big, headers=auth(api, "mazovia"))
        assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")

        async def chunked():  # no Content-Length: the cap applies while reading
            payload = json.dumps(big).encode()
            for i in range(0, len(payload), 500):
                yield payload[i:i + 500]

        r = await api.post("/v1/participants", content=chunked(),
                           headers={**auth(api, "mazovia"), "content-type": "application/json"})
        assert r.status_code == 413
        assert (await api.post("/v1/participants", json=BODY, headers=auth(api, "mazovia"))).status_code == 201
        assert await participant_count(api) == 1


async def test_the_rate_limit_is_per_key_and_answers_429_with_retry_after(database_url, kafka_bootstrap):
    async with running_api(database_url, kafka_bootstrap, rate_limit_requests=3, rate_limit_window_s=3600) as api:
        for _ in range(3):
            assert (await api.get("/v1/clusters", headers=auth(api, "mazovia"))).status_code == 200
        r = await api.post("/v1/participants", json=BODY, headers=auth(api, "mazovia"))
        assert r.status_code == 429 and r.json()["type"].endswith("/rate-limited")
        assert 1 <= int(r.headers["retry-after"]) <= 3600
        assert (await api.get("/v1/clusters", headers=auth(api, "gaia"))).status_code == 200
        assert await participant_count(api) == 0


async def test_the_rate_limit_is_shared_by_replicas_of_the_service(database_url, kafka_bootstrap):
    async with running_api(database_url, kafka_bootstrap, rate_limit_requests=4, rate_limit_window_s=3600) as api:
        other = build(RegistrationSettings(database_url=database_url, kafka_bootstrap=kafka_bootstrap,
                                           rate_limit_requests=4, rate_limit_window_s=3600))
        app = other.app()
        await other.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as replica:
                codes = []
                for i in range(6):
                    client = api if i % 2 else replica
                    codes.append((await client.get("/v1/clusters", headers=auth(api, "mazovia"))).status_code)
        finally:
            await asyncio.wait_for(other.stop(), 15)
        assert codes == [200, 200, 200, 200, 429, 429]


# --- bulk ------------------------------------------------------------------------------------------


async def test_batch_registers_valid_items_and_reports_each_item(api):
    items = [
        {**BODY, "external_ref": "row-1"},
        {**BODY, "country": "XX"},
        {**BODY, "external_ref": "row-1"},
        {**BODY, "cluster_id": "gaia"},
        {**BODY, "external_ref": "row-4", "name": "Fourth"},
    ]
    r = await api.post("/v1/participants:batch", json={"items": items}, headers=auth(api, "mazovia"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["created"], out["existing"], out["failed"]) == (2, 1, 2)
    statuses = [x["status"] for x in out["results"]]
    assert statuses == [201, 422, 200, 403, 201]
    assert out["results"][1]["problem"]["errors"][0]["field"] == "country"
    assert out["results"][2]["id"] == out["results"][0]["id"]
    assert await participant_count(api) == 2
    assert [e["type"] for e in await outbox_events(api)] == ["participant.registered"] * 2


async def test_batch_is_capped_at_500_items(api):
    r = await api.post("/v1/participants:batch", json={"items": [BODY] * 501}, headers=auth(api, "mazovia"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items"
    assert await participant_count(api) == 0


async def test_nul_characters_are_refused_with_a_problem_naming_the_field(api):
    r = await api.post("/v1/participants", json={**BODY, "city": "War\x00saw"}, headers=auth(api, "mazovia"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "city"
    r = await api.post("/v1/participants:batch", json={"items": [{**BODY, "k\x00": 1}]}, headers=auth(api, "mazovia"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items.0"
    r = await api.get("/v1/participants", params={"cursor": "a\x00"}, headers=auth(api, "mazovia"))
    assert r.status_code == 422
    assert await participant_count(api) == 0
