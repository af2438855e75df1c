"""Every service's /openapi.json declares what each route answers (issue 14, item 5), and real answers keep
to it.

The walk: every operation has a success schema with content (a 204 has none), every error is problem+json
with the Problem schema of shared/problems.py, FastAPI's HTTPValidationError is gone. The conformance check:
each service in-process (tests/support/inprocess.py) goes through a realistic sequence of calls, and every
answer is checked against the schema its operation declares for that status and media type, strictly (an
undeclared member is an error, except in problems, which RFC 9457 leaves open). Registration is also fuzzed
with schemathesis' conformance checks (tests/integration/test_registration_fuzz.py)."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import jsonschema
import pytest

from services.matchmaking.adapters import activities as mm_activities
from services.matchmaking.adapters import profiles as mm_profiles
from services.registration import seed
from shared.events.catalogue import ActivityCreated, MeetingSettings, OfferOrRequest, Profile
from shared.problems import PROBLEM_JSON, PROBLEM_SCHEMA
from tests.support.payloads import PARTICIPANT as BODY
from tests.support.inprocess import SERVICES, fill, key, serving

pytestmark = pytest.mark.integration

PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
PROBES = {"/healthz", "/readyz", "/metrics"}


def _operations(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


@pytest.mark.parametrize("service", SERVICES)
async def test_every_operation_declares_its_success_schema_and_problem_errors(service, database_url):
    async with serving(service, database_url) as api:
        doc = (await api.get("/openapi.json")).json()
    assert "HTTPValidationError" not in json.dumps(doc) and "ValidationError" not in doc["components"]["schemas"]
    assert doc["components"]["schemas"]["Problem"] == PROBLEM_SCHEMA
    operations = list(_operations(doc))
    assert len(operations) >= 9
    for method, path, op in operations:
        where = f"{method} {path}"
        responses = op["responses"]
        successes = {s: r for s, r in responses.items() if s.startswith("2")}
        assert successes, where
        for status, response in successes.items():
            if status == "204":
                assert not response.get("content"), where
                continue
            assert response.get("content"), (where, status)
            for media, spec in response["content"].items():
                assert spec.get("schema"), (where, status, media)
        for status, response in responses.items():
            if status.startswith(("4", "5")) and not (path == "/readyz" and status == "503"):
                assert response["content"] == PROBLEM_CONTENT, (where, status)
        if path in PROBES:
            continue
        assert {"422", "429", "503"} <= set(responses), where
        if op.get("security") != []:
            assert "401" in responses, where
        if "{" in path:
            assert "404" in responses, where
        if "requestBody" in op:
            assert {"400", "413"} <= set(responses), where


# --- real answers against the declared schemas --------------------------------------------------------


def _strict(node):
    """The schema with undeclared members refused, except where it says so itself (the Problem)."""
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


class Conformance:
    """Calls a service and checks each answer against its operation's declared response."""

    def __init__(self, api, doc):
        self.api, self.doc = api, doc
        self.components = _strict(copy.deepcopy(doc["components"]))
        self.checked: set[tuple[str, str, int]] = set()

    async def call(self, method: str, template: str, who: str | None = None, values=None, status=None, **kw):
        headers = {**kw.pop("headers", {}), **(key(self.api, who) if who else {})}
        r = await self.api.request(method, fill(template, values), headers=headers, **kw)
        where = f"{method} {template} → {r.status_code}: {r.text[:300]}"
        if status is not None:
            assert r.status_code == status, where
        declared = self.doc["paths"][template][method.lower()]["responses"].get(str(r.status_code))
        assert declared is not None, f"undeclared status: {where}"
        if r.status_code == 204:
            assert not r.content and not declared.get("content"), where
        else:
            media = r.headers["content-type"].split(";")[0].strip()
            assert media in declared["content"], f"undeclared media type {media}: {where}"
            if "json" in media:
                schema = {**_strict(declared["content"][media]["schema"]), "components": self.components}
                errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
                          for e in jsonschema.Draft202012Validator(schema).iter_errors(r.json())]
                assert errors == [], where
        self.checked.add((method, template, r.status_code))
        return r


async def _conformance(api) -> Conformance:
    return Conformance(api, (await api.get("/openapi.json")).json())


async def _probes(c: Conformance) -> None:
    await c.call("GET", "/healthz", status=200)
    await c.call("GET", "/readyz")  # 503 here (no broker): the readiness body, declared for both statuses
    await c.call("GET", "/metrics", status=200)


async def test_registration_answers_conform(database_url):
    async with serving("registration", database_url) as api:
        async with api.pool.acquire() as conn:
            await seed.seed_clusters(conn)
        c = await _conformance(api)
        await _probes(c)
        await c.call("GET", "/v1/clusters", "a", status=200)
        cluster = {"id": f"c-{uuid.uuid4().hex[:8]}", "name": "Test Cluster", "country": "DE", "city": "Dresden"}
        await c.call("POST", "/v1/clusters", "coordinator", json=cluster, status=201)
        await c.call("POST", "/v1/clusters", "coordinator", json=cluster, status=409)
        await c.call("PATCH", "/v1/clusters/{cluster_id}", "coordinator", {"cluster_id": cluster["id"]},
                     json={"city": "Leipzig"}, status=200)
        await c.call("POST", "/v1/clusters", "a", json=cluster, status=403)
        await c.call("GET", "/v1/clusters", status=401)

        pid = (await c.call("POST", "/v1/participants", "a", json={**BODY, "external_ref": "x-1"}, status=201)).json()["id"]
        await c.call("POST", "/v1/participants", "a", json={**BODY, "external_ref": "x-1"}, status=200)
        await c.call("POST", "/v1/participants", "a", json={**BODY, "country": "XX"}, status=422)
        await c.call("POST", "/v1/participants", "a", content=b"{not json", status=422,
                     headers={"Content-Type": "application/json"})
        await c.call("POST", "/v1/participants", "a", content=b'{"kind": "\xff"}', status=400,  # not UTF-8
                     headers={"Content-Type": "application/json"})
        await c.call("POST", "/v1/participants:batch", "a", json={"items": [BODY, {**BODY, "kind": "robot"}]},
                     status=200)
        await c.call("GET", "/v1/participants", "a", params={"limit": 1}, status=200)
        await c.call("GET", "/v1/participants/{participant_id}", "a", {"participant_id": pid}, status=200)
        await c.call("GET", "/v1/participants/{participant_id}", "b", {"participant_id": pid}, status=404)
        await c.call("PATCH", "/v1/participants/{participant_id}", "a", {"participant_id": pid},
                     json={"city": "Krakow"}, status=200)

        activity = {"kind": "matchmaking_event", "title": "B2B", "host_cluster_id": "mazovia-ict", "country": "PL",
                    "starts_on": "2026-06-01", "ends_on": "2026-06-01", "capacity": 10,
                    "meetings": {"day_start": "09:00", "day_end": "12:00", "slot_minutes": 30, "tables": 5,
                                 "timezone": "Europe/Warsaw"}}
        aid = (await c.call("POST", "/v1/activities", "a", json=activity, status=201)).json()["id"]
        await c.call("GET", "/v1/activities", "a", status=200)
        await c.call("GET", "/v1/activities/{activity_id}", "a", {"activity_id": aid}, status=200)
        await c.call("POST", "/v1/activities/{activity_id}/participants", "a", {"activity_id": aid},
                     json={"participant_id": pid}, status=201)
        await c.call("POST", "/v1/activities/{activity_id}/participants", "a", {"activity_id": aid},
                     json={"participant_id": pid}, status=409)

        exchange = {"participant_id": pid, "host_cluster_id": "gaia", "kind": "sme_exchange",
                    "start_date": "2026-06-01", "end_date": "2026-06-12", "goals": "Learn"}
        xid = (await c.call("POST", "/v1/exchanges", "a", json=exchange, status=201)).json()["id"]
        await c.call("GET", "/v1/exchanges", "a", status=200)
        await c.call("GET", "/v1/exchanges/{exchange_id}", "a", {"exchange_id": xid}, status=200)
        await c.call("POST", "/v1/exchanges/{exchange_id}/approve", "coordinator", {"exchange_id": xid}, status=200)
        await c.call("POST", "/v1/exchanges/{exchange_id}/approve", "coordinator", {"exchange_id": xid}, status=409)
        await c.call("POST", "/v1/exchanges/{exchange_id}/cancel", "a", {"exchange_id": xid},
                     json={"reason": "plans changed"}, status=200)

        issued = (await c.call("POST", "/v1/keys", "coordinator", json={"cluster_id": "gaia", "role": "partner"},
                               status=201)).json()
        await c.call("GET", "/v1/keys", "coordinator", params={"include_revoked": True}, status=200)
        rotated = (await c.call("POST", "/v1/keys/{key_id}/rotate", "coordinator", {"key_id": issued["id"]},
                                status=201)).json()
        await c.call("DELETE", "/v1/keys/{key_id}", "coordinator", {"key_id": rotated["id"]}, status=200)
        await c.call("DELETE", "/v1/keys/{key_id}", "coordinator", {"key_id": rotated["id"]}, status=404)

        await c.call("DELETE", "/v1/participants/{participant_id}", "a", {"participant_id": pid}, status=202)
    assert len(c.checked) >= 35


async def test_matchmaking_answers_conform(database_url):
    async with serving("matchmaking", database_url) as api:
        aid, mine, theirs = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        async with api.pool.acquire() as conn:
            for pid, cluster in ((mine, "mazovia-ict"), (theirs, "gaia")):
                await mm_profiles.upsert(conn, pid, Profile(
                    cluster_id=cluster, kind="sme", name=f"Firm {cluster}", country="PL", sectors=("J62.01",),
                    keywords=("mobility",), offers=(OfferOrRequest(type="technology", text="V2X"),)))
            day = date.today() + timedelta(days=30)
            await mm_activities.upsert_created(conn, ActivityCreated(
                activity_id=aid, kind="matchmaking_event", title="B2B", host_cluster_id="mazovia-ict",
                country="PL", starts_on=day, ends_on=day, meetings=MeetingSettings(
                    day_start="09:00", day_end="12:00", slot_minutes=30, tables=5, timezone="Europe/Warsaw")))
            for pid in (mine, theirs):
                await mm_activities.join(conn, aid, pid, ())
        c = await _conformance(api)
        await _probes(c)
        await c.call("GET", "/v1/profiles/{participant_id}", "a", {"participant_id": mine}, status=200)
        await c.call("GET", "/v1/profiles/{participant_id}", "a", {"participant_id": str(uuid.uuid4())}, status=404)
        await c.call("GET", "/v1/activities/{activity_id}/suggestions", "a", {"activity_id": aid},
                     params={"participant_id": mine}, status=200)
        request = {"activity_id": aid, "requester_id": mine, "target_id": theirs, "message": "Talk?"}
        mid = (await c.call("POST", "/v1/meeting-requests", "a", json=request, status=201)).json()["id"]
        await c.call("POST", "/v1/meeting-requests", "a", json=request)  # the open request again: 200 or 409
        await c.call("GET", "/v1/meeting-requests/{meeting_id}", "b", {"meeting_id": mid}, status=200)
        await c.call("POST", "/v1/meeting-requests/{meeting_id}/accept", "b", {"meeting_id": mid}, status=200)
        await c.call("POST", "/v1/meeting-requests/{meeting_id}/decline", "b", {"meeting_id": mid}, status=409)
        await c.call("GET", "/v1/activities/{activity_id}/agenda", "a", {"activity_id": aid},
                     params={"participant_id": mine}, status=200)
        await c.call("GET", "/v1/activities/{activity_id}/agenda", "b", {"activity_id": aid}, status=403)
        await c.call("POST", "/v1/meetings/{meeting_id}/feedback", "a", {"meeting_id": mid},
                     json={"participant_id": mine, "rating": "cooperation_possible"}, status=409)
        await c.call("POST", "/v1/meeting-requests", "a", json={**request, "extra": 1}, status=422)
        await c.call("GET", "/v1/activities/{activity_id}/suggestions", None, {"activity_id": aid}, status=401)
    assert len(c.checked) >= 14


async def test_notifications_answers_conform(database_url):
    async with serving("notifications", database_url,
                       webhook_allowed_destinations=("hooks.partner.example",)) as api:
        c = await _conformance(api)
        await _probes(c)
        await c.call("GET", "/v1/notifications", "a", status=200)
        await c.call("GET", "/v1/received-events", "ops", status=200)
        await c.call("GET", "/v1/received-events", "a", status=403)
        hook = {"url": "https://hooks.partner.example/cxc", "event_types": ["exchange.approved"]}
        created = (await c.call("POST", "/v1/webhooks", "a", json=hook, status=201)).json()
        await c.call("POST", "/v1/webhooks", "a", json=hook, status=200)
        await c.call("POST", "/v1/webhooks", "a", json={**hook, "event_types": ["no.such"]}, status=422)
        await c.call("GET", "/v1/webhooks", "a", status=200)
        await c.call("GET", "/v1/webhooks/{subscription_id}", "a", {"subscription_id": created["id"]}, status=200)
        await c.call("GET", "/v1/webhooks/{subscription_id}", "b", {"subscription_id": created["id"]}, status=404)
        rotated = await c.call("POST", "/v1/webhooks/{subscription_id}/rotate-secret", "a",
                               {"subscription_id": created["id"]}, status=200)
        assert "previous_secret_valid_until" in rotated.json() and "secret" in rotated.json()
        await c.call("DELETE", "/v1/webhooks/{subscription_id}", "a", {"subscription_id": created["id"]}, status=204)
        await c.call("DELETE", "/v1/webhooks/{subscription_id}", "a", {"subscription_id": created["id"]}, status=404)
    assert len(c.checked) >= 14


async def test_reporting_answers_conform(database_url):
    async with serving("reporting", database_url) as api:
        c = await _conformance(api)
        await _probes(c)
        await c.call("GET", "/v1/kpis", "coordinator", status=200)
        await c.call("GET", "/v1/kpis", "a", status=200)
        await c.call("GET", "/v1/kpis", "a", params={"cluster": "gaia"}, status=404)
        await c.call("GET", "/v1/kpis", "a", params={"from": "2026-02-01", "to": "2026-01-01"}, status=422)
        await c.call("GET", "/v1/kpis.csv", "coordinator", status=200)
        await c.call("GET", "/v1/kpis/timeseries", "a", params={"metric": "exchanges"}, status=200)
        await c.call("GET", "/v1/kpis/timeseries", "coordinator", params={"metric": "exchanges"}, status=200)
        await c.call("POST", "/v1/dashboard-links", "a", status=201)
        await c.call("GET", "/", "a", status=200)
        await c.call("GET", "/stream", "ops", status=200)
        await c.call("GET", "/v1/kpis", status=401)
    assert len(c.checked) >= 12
