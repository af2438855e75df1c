"""A partner of cluster A against the data of cluster B, on every read and write of every service (issue 13,
point 2): 404 or 403, never B's data. Each service's matrix must name every keyed route of the app, so a
new route fails here until someone decides what a foreign partner gets from it.

What a partner *may* see of other clusters, by design: the programme's clusters and activities (public
programme information, no participant data: registration ``/v1/clusters``, ``/v1/activities``), and in
matchmaking the business profile (organisation, sectors, offers, requests; never contact data) of a
counterpart that takes part in an activity with one of its own participants: that is the pool suggestions
come from, and choosing whom to meet needs it.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime

import pytest

from services.matchmaking import handlers as mm_handlers
from services.matchmaking.adapters import activities, profiles
from services.matchmaking.adapters.repository import Repository
from services.notifications.adapters import store
from services.registration import seed
from shared.auth import Caller
from shared.events.catalogue import ActivityCreated, MeetingSettings, Profile
from shared.unit_of_work import unit_of_work
from tests.support.payloads import PARTICIPANT as BODY
from tests.support.inprocess import ALLOWLIST, OWN_CREDENTIAL_PREFIX, fill, key, routes_of, serving

pytestmark = pytest.mark.integration

SECRET_NAME = "Basque Secret Robotics"  # B's participant: must never appear in an answer to A
REFUSED = (403, 404)


def keyed_routes(service: str, app) -> set[tuple[str, str]]:
    return {(m, p) for m, p, _ in routes_of(app)
            if (m, p) not in ALLOWLIST[service] and not p.startswith(OWN_CREDENTIAL_PREFIX)}


async def check(api, matrix, service: str, leaks=(SECRET_NAME,)) -> None:
    covered = {(m, p.split("?")[0]) for m, p, *_ in matrix}
    missing = keyed_routes(service, api.app) - covered
    assert not missing, f"routes with no cross-tenant expectation yet: {sorted(missing)}"
    for method, template, values, body, expect in matrix:
        r = await api.request(method, fill(template, values), json=body, headers=key(api, "a"))
        assert r.status_code in expect, (method, template, r.status_code, r.text)
        for leak in leaks:
            assert leak not in r.text, (method, template, "leaks B's data")
        if r.status_code < 300:
            for secret in values.get("_secret_ids", ()):
                assert secret not in r.text, (method, template, "lists B's ids")


async def test_registration(database_url):
    async with serving("registration", database_url) as api:
        async with api.pool.acquire() as conn:
            await seed.seed_clusters(conn)
        b = key(api, "b")
        pb = (await api.post("/v1/participants", json={**BODY, "name": SECRET_NAME, "country": "ES"}, headers=b)).json()
        pb_id = pb["id"]
        act = await api.post("/v1/activities", headers=b, json={
            "kind": "mission", "title": "Gaia mission", "host_cluster_id": "gaia", "country": "ES",
            "starts_on": "2026-09-01", "ends_on": "2026-09-03"})
        assert act.status_code == 201, act.text
        act_id = act.json()["id"]
        xb = await api.post("/v1/exchanges", headers=b, json={
            "participant_id": pb_id, "host_cluster_id": "pole-scs", "kind": "sme_exchange",
            "start_date": "2026-10-05", "end_date": "2026-10-09", "goals": "pilots"})
        assert xb.status_code == 201, xb.text
        xb_id = xb.json()["id"]
        ids = {"participant_id": pb_id, "activity_id": act_id, "exchange_id": xb_id, "cluster_id": "gaia",
               "key_id": await api.pool.fetchval("SELECT id::text FROM api_keys WHERE cluster_id = 'gaia'"),
               "_secret_ids": (pb_id, xb_id)}
        completion = {"completed_on": "2026-10-09", "working_days": 5, "meetings_held": 1, "satisfaction": 5,
                      "outcomes": ["none"]}
        matrix = [
            ("GET", "/v1/participants/{participant_id}", ids, None, (404,)),
            ("PATCH", "/v1/participants/{participant_id}", ids, {"city": "Bilbao"}, REFUSED),
            ("DELETE", "/v1/participants/{participant_id}", ids, None, REFUSED),
            ("GET", "/v1/participants", ids, None, (200,)),
            ("POST", "/v1/participants", ids, {**BODY, "cluster_id": "gaia"}, (403,)),
            ("POST", "/v1/participants:batch", ids, {"items": [{**BODY, "cluster_id": "gaia"}]}, (200, 403)),
            ("POST", "/v1/activities/{activity_id}/participants", ids, {"participant_id": pb_id}, REFUSED),
            ("POST", "/v1/activities", ids, {"kind": "mission", "title": "x", "host_cluster_id": "gaia",
                                             "country": "ES", "starts_on": "2026-09-01", "ends_on": "2026-09-02"},
             REFUSED),
            ("GET", "/v1/activities", ids, None, (200,)),          # programme information, by design
            ("GET", "/v1/activities/{activity_id}", ids, None, (200,)),
            ("POST", "/v1/exchanges", ids, {"participant_id": pb_id, "host_cluster_id": "mazovia-ict",
                                            "kind": "sme_exchange", "start_date": "2026-11-02",
                                            "end_date": "2026-11-06", "goals": "x"}, REFUSED),
            ("GET", "/v1/exchanges", ids, None, (200,)),
            ("GET", "/v1/exchanges/{exchange_id}", ids, None, (404,)),
            ("POST", "/v1/exchanges/{exchange_id}/approve", ids, None, REFUSED),
            ("POST", "/v1/exchanges/{exchange_id}/cancel", ids, {}, REFUSED),
            ("POST", "/v1/exchanges/{exchange_id}/completion", ids, completion, REFUSED),
            ("GET", "/v1/clusters", ids, None, (200,)),             # programme information, by design
            ("POST", "/v1/clusters", ids, {"id": "evil", "name": "Evil", "country": "DE", "city": "Berlin"}, (403,)),
            ("PATCH", "/v1/clusters/{cluster_id}", ids, {"name": "Owned"}, REFUSED),
            ("POST", "/v1/keys", ids, {"cluster_id": "gaia", "role": "partner"}, REFUSED),
            ("GET", "/v1/keys", ids, None, REFUSED),
            ("DELETE", "/v1/keys/{key_id}", ids, None, REFUSED),
            ("POST", "/v1/keys/{key_id}/rotate", ids, None, REFUSED),
        ]
        await check(api, matrix, "registration")
        # nothing of B changed, and the batch registered nothing into B
        assert (await api.get(f"/v1/participants/{pb_id}", headers=b)).json()["city"] == BODY["city"]
        assert (await api.get(f"/v1/exchanges/{xb_id}", headers=b)).json()["status"] == "applied"
        listed = (await api.get("/v1/participants", params={"cluster_id": "gaia"}, headers=b)).json()["items"]
        assert [p["id"] for p in listed] == [pb_id]


async def test_matchmaking(database_url):
    async with serving("matchmaking", database_url) as api:
        pa, pb, pb2 = (str(uuid.uuid4()) for _ in range(3))
        act = str(uuid.uuid4())
        async with api.pool.acquire() as conn:
            for pid, cluster, name in ((pa, "mazovia-ict", "Score Digital"), (pb, "gaia", SECRET_NAME),
                                       (pb2, "gaia", "Other Basque Firm")):
                await profiles.upsert(conn, pid, Profile(cluster_id=cluster, kind="sme", name=name,
                                                         country="PL" if cluster == "mazovia-ict" else "ES"))
            await activities.upsert_created(conn, ActivityCreated(
                activity_id=act, kind="matchmaking_event", title="Basque day", host_cluster_id="gaia", country="ES",
                starts_on=date(2026, 9, 1), ends_on=date(2026, 9, 1), online=False,
                meetings=MeetingSettings(day_start="09:00", day_end="11:00", slot_minutes=30, tables=2,
                                         timezone="Europe/Madrid")))
            for pid in (pb, pb2):
                await activities.join(conn, act, pid, ())
        async with unit_of_work(api.pool, Caller("gaia", "partner", "k"), Repository,
                                source=mm_handlers.SOURCE) as uow:
            outcome = await mm_handlers.request_meeting(
                uow, mm_handlers.RequestMeeting(act, pb, pb2, "Meet Ana at 9"), api.service.settings)
        ids = {"participant_id": pb, "activity_id": act, "meeting_id": str(outcome.meeting.meeting_id),
               "_secret_ids": (pb2,)}
        matrix = [
            ("GET", "/v1/profiles/{participant_id}", ids, None, (404,)),
            ("GET", "/v1/activities/{activity_id}/suggestions?participant_id=" + pb, ids, None, (404,)),
            ("POST", "/v1/meeting-requests", ids, {"activity_id": act, "requester_id": pb, "target_id": pb2}, REFUSED),
            ("GET", "/v1/meeting-requests/{meeting_id}", ids, None, (404,)),
            ("POST", "/v1/meeting-requests/{meeting_id}/accept", ids, None, REFUSED),
            ("POST", "/v1/meeting-requests/{meeting_id}/decline", ids, None, REFUSED),
            ("POST", "/v1/activities/{activity_id}/schedule", ids, None, (403,)),
            ("GET", "/v1/activities/{activity_id}/agenda", ids, None, (403,)),
            ("GET", "/v1/activities/{activity_id}/agenda?participant_id=" + pb, ids, None, (404,)),
            ("POST", "/v1/meetings/{meeting_id}/feedback", ids, {"participant_id": pb, "rating": "no_cooperation"},
             REFUSED),
        ]
        await check(api, matrix, "matchmaking", leaks=(SECRET_NAME, "Meet Ana"))
        assert await api.pool.fetchval("SELECT status FROM meetings") == "pending", "B's request is untouched"

        # A counterpart becomes visible (business profile only) once A's participant joins the same activity.
        async with api.pool.acquire() as conn:
            await activities.join(conn, act, pa, ())
        seen = await api.get(f"/v1/profiles/{pb}", headers=key(api, "a"))
        assert seen.status_code == 200 and seen.json()["name"] == SECRET_NAME
        assert not {"email", "phone", "contact"} & seen.json().keys()
        assert (await api.get(f"/v1/profiles/{pb}", headers=key(api, "b"))).status_code == 200


async def test_notifications(database_url):
    async with serving("notifications", database_url) as api:
        event_id = uuid.uuid4()
        async with api.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO deliveries (id, event_id, event_type, recipient, channel, template, cluster_id, status,
                                           last_error)
                   VALUES ($1, $2, 'exchange.approved', $3, 'email', 'exchange_approved', 'gaia', 'sent', $4)""",
                uuid.uuid4(), event_id, "b-participant", SECRET_NAME)
            await conn.execute(
                """INSERT INTO received_events (event_id, event_type, subject, correlation_id, event_time)
                   VALUES ($1, 'participant.registered', 'b-participant', 'c', $2)""", event_id, datetime.now(UTC))
            hook = await store.add_subscription(
                conn, cluster_id="gaia", owner_cluster_id="gaia", url="https://hooks.gaia.example/cxc",
                event_types=["exchange.approved"], secret="whsec_" + "b" * 32, created_by="gaia-key")
        ids = {"subscription_id": str(hook["id"]), "_secret_ids": ("b-participant", "hooks.gaia.example")}
        matrix = [
            ("GET", "/v1/notifications", ids, None, (200,)),
            ("GET", "/v1/webhooks", ids, None, (200,)),
            ("GET", "/v1/webhooks/{subscription_id}", ids, None, (404,)),
            ("DELETE", "/v1/webhooks/{subscription_id}", ids, None, REFUSED),
            ("POST", "/v1/webhooks/{subscription_id}/rotate-secret", ids, None, REFUSED),
            ("GET", "/v1/received-events", ids, None, (403,)),       # dev/test builds only, and for ops
            ("POST", "/v1/webhooks", ids, {"url": "https://hooks.example.org/x", "event_types": ["exchange.approved"]},
             (201, 422)),  # a partner's hook is scoped to its own cluster's events (store: cluster_id)
        ]
        await check(api, matrix, "notifications")
        r = await api.get("/v1/notifications", params={"event_id": str(event_id)}, headers=key(api, "a"))
        assert r.json() == []
        own = await api.get("/v1/notifications", params={"event_id": str(event_id)}, headers=key(api, "b"))
        assert [d["recipient"] for d in own.json()] == ["b-participant"]
        hooks = await api.pool.fetch("SELECT cluster_id, secret FROM webhook_subscriptions WHERE owner_cluster_id <> 'gaia'")
        assert all(h["cluster_id"] == "mazovia-ict" for h in hooks), "A's hook hears only A's events"
        assert await api.pool.fetchval("SELECT secret FROM webhook_subscriptions WHERE id = $1", hook["id"]) \
            == "whsec_" + "b" * 32, "B's hook is neither deleted nor rotated"


async def test_reporting(database_url):
    async with serving("reporting", database_url) as api:
        ids = {"_secret_ids": ()}
        matrix = [
            ("GET", "/v1/kpis?cluster=gaia", ids, None, (404,)),
            ("GET", "/v1/kpis.csv?cluster=gaia", ids, None, (404,)),
            ("GET", "/v1/kpis/timeseries?metric=exchanges&cluster=gaia", ids, None, (404,)),
            ("GET", "/?cluster=gaia", ids, None, (404,)),
            ("POST", "/v1/dashboard-links", ids, None, (201,)),        # a link for A's own key
            ("GET", "/v1/stream/events", ids, None, (403,)),
            ("GET", "/v1/stream/lag", ids, None, (403,)),
            ("GET", "/stream", ids, None, (200,)),                     # the page; its data needs an ops key
        ]
        await check(api, matrix, "reporting")
        link = (await api.post("/v1/dashboard-links", headers=key(api, "a"))).json()["path"]
        signed_in = await api.get(link)
        api.cookies.clear()
        session = {"Cookie": signed_in.headers["set-cookie"].split(";")[0]}
        assert (await api.get("/", params={"cluster": "gaia"}, headers=session)).status_code == 404
        body = json.dumps((await api.get("/v1/kpis", headers=session)).json())
        assert '"audience": "partner"' in body
