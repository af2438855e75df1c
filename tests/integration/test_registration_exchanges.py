"""Activities and exchanges through the ingress API: programme rules, lump sums, events."""

import asyncio

import pytest

from tests.support.payloads import PARTICIPANT as BODY
from tests.support.services import api, auth, outbox_events  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

ACTIVITY = {
    "kind": "matchmaking_event", "title": "Basque mobility B2B days", "host_cluster_id": "gaia",
    "city": "San Sebastián", "country": "ES", "starts_on": "2026-06-02", "ends_on": "2026-06-03", "online": False,
    "capacity": 2,
    "meetings": {"day_start": "09:00", "day_end": "17:00", "slot_minutes": 30, "tables": 12,
                 "timezone": "Europe/Madrid"},
}
# Mon 1 June .. Fri 12 June 2026: 10 working days.
EXCHANGE = {"host_cluster_id": "gaia", "kind": "sme_exchange", "start_date": "2026-06-01", "end_date": "2026-06-12",
            "goals": "Meet Basque mobility integrators"}
COMPLETION = {"completed_on": "2026-06-12", "working_days": 9, "meetings_held": 7, "satisfaction": 5,
              "outcomes": ["partnership_agreement", "knowledge_transfer"], "testimonial": "Very useful"}


async def participant(api, who="mazovia", **changes) -> str:
    r = await api.post("/v1/participants", json={**BODY, **changes}, headers=auth(api, who))
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def apply(api, pid, who="mazovia", **changes):
    return await api.post("/v1/exchanges", json={**EXCHANGE, "participant_id": pid, **changes}, headers=auth(api, who))


async def events(api, prefix):
    return [e for e in await outbox_events(api) if e["type"].startswith(prefix)]


# --- activities ----------------------------------------------------------------------------------


async def test_partner_creates_an_activity_with_meeting_settings_and_it_is_published(api):
    r = await api.post("/v1/activities", json=ACTIVITY, headers=auth(api, "gaia"))
    assert r.status_code == 201, r.text
    activity = r.json()
    assert r.headers["location"] == f"/v1/activities/{activity['id']}"
    assert activity["meetings"]["tables"] == 12
    [event] = await events(api, "activity.")
    assert event["type"] == "activity.created" and event["subject"] == activity["id"]
    assert event["data"]["meetings"]["timezone"] == "Europe/Madrid"
    listed = (await api.get("/v1/activities", headers=auth(api, "mazovia"))).json()
    assert [a["id"] for a in listed] == [activity["id"]]


async def test_activity_rules_are_enforced(api):
    r = await api.post("/v1/activities", json=ACTIVITY, headers=auth(api, "mazovia"))
    assert r.status_code == 403, "a partner hosts its own activities only"
    r = await api.post("/v1/activities", json={**ACTIVITY, "host_cluster_id": "nobody"}, headers=auth(api, "coordinator"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "host_cluster_id"
    r = await api.post("/v1/activities", json={**ACTIVITY, "meetings": {**ACTIVITY["meetings"], "timezone": "Europe/Atlantis"}},
                       headers=auth(api, "gaia"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "meetings.timezone"
    assert await events(api, "activity.") == []


async def test_joining_an_activity_with_unavailable_periods(api):
    aid = (await api.post("/v1/activities", json=ACTIVITY, headers=auth(api, "gaia"))).json()["id"]
    pid = await participant(api)
    periods = [["2026-06-02T09:00:00+02:00", "2026-06-02T11:00:00+02:00"]]
    r = await api.post(f"/v1/activities/{aid}/participants", json={"participant_id": pid, "unavailable": periods},
                       headers=auth(api, "mazovia"))
    assert r.status_code == 201, r.text
    [joined] = [e for e in await events(api, "activity.") if e["type"] == "activity.participant_joined"]
    assert joined["subject"] == aid and joined["data"]["participant_id"] == pid
    assert len(joined["data"]["unavailable"]) == 1
    again = await api.post(f"/v1/activities/{aid}/participants", json={"participant_id": pid}, headers=auth(api, "mazovia"))
    assert again.status_code == 409
    assert (await api.get(f"/v1/activities/{aid}", headers=auth(api, "ops"))).json()["participants"] == 1


async def test_join_refusals(api):
    aid = (await api.post("/v1/activities", json=ACTIVITY, headers=auth(api, "gaia"))).json()["id"]
    mine = await participant(api)
    theirs = await participant(api, "gaia", country="ES")
    path = f"/v1/activities/{aid}/participants"
    assert (await api.post(path, json={"participant_id": theirs}, headers=auth(api, "mazovia"))).status_code == 404
    missing = "/v1/activities/00000000-0000-0000-0000-000000000000/participants"
    assert (await api.post(missing, json={"participant_id": mine}, headers=auth(api, "mazovia"))).status_code == 404
    bad = await api.post(path, json={"participant_id": mine, "unavailable": [["2026-06-02T11:00:00Z", "2026-06-02T09:00:00Z"]]},
                         headers=auth(api, "mazovia"))
    assert bad.status_code == 422


async def test_concurrent_joins_never_exceed_the_capacity(api):
    aid = (await api.post("/v1/activities", json=ACTIVITY, headers=auth(api, "gaia"))).json()["id"]
    pids = [await participant(api, name=f"SME {i}") for i in range(5)]
    replies = await asyncio.gather(*(
        api.post(f"/v1/activities/{aid}/participants", json={"participant_id": p}, headers=auth(api, "mazovia"))
        for p in pids))
    assert sorted(r.status_code for r in replies) == [201, 201, 409, 409, 409]
    assert len([e for e in await events(api, "activity.participant_joined")]) == 2


# --- applying --------------------------------------------------------------------------------------


async def test_apply_records_the_sending_cluster_and_working_days(api):
    pid = await participant(api)
    r = await apply(api, pid)
    assert r.status_code == 201, r.text
    x = r.json()
    assert (x["status"], x["sending_cluster_id"], x["host_cluster_id"], x["working_days"]) == (
        "applied", "mazovia-ict", "gaia", 10)
    assert r.headers["location"] == f"/v1/exchanges/{x['id']}"
    [event] = await events(api, "exchange.")
    assert event["type"] == "exchange.applied" and event["subject"] == x["id"]
    assert event["data"]["participant_kind"] == "sme" and event["data"]["working_days"] == 10


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"end_date": "2026-06-02"}, "end_date"),  # 2 working days
        ({"end_date": "2026-07-02"}, "end_date"),  # more than a month
        ({"end_date": "2026-05-29"}, "end_date"),  # before the start
        ({"host_cluster_id": "mazovia-ict"}, "host_cluster_id"),  # own cluster
        ({"host_cluster_id": "atlantis"}, "host_cluster_id"),
        ({"activity_id": "00000000-0000-0000-0000-000000000000"}, "activity_id"),
    ],
)
async def test_apply_refuses_what_breaks_a_programme_rule(api, changes, field):
    pid = await participant(api)
    r = await apply(api, pid, **changes)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field
    assert await events(api, "exchange.") == []


async def test_a_participant_takes_part_in_one_exchange_only(api):
    pid = await participant(api)
    assert (await apply(api, pid)).status_code == 201
    second = await apply(api, pid, host_cluster_id="pole-scs")
    assert second.status_code == 409 and second.json()["type"].endswith("/one-exchange-only")
    assert len(await events(api, "exchange.")) == 1


async def test_concurrent_applications_of_one_participant_create_one_exchange(api):
    pid = await participant(api)
    replies = await asyncio.gather(*(apply(api, pid, host_cluster_id=h) for h in ("gaia", "pole-scs", "cdti-sofia")))
    assert sorted(r.status_code for r in replies) == [201, 409, 409]


async def test_a_cancelled_exchange_frees_the_participant_for_another(api):
    pid = await participant(api)
    xid = (await apply(api, pid)).json()["id"]
    assert (await api.post(f"/v1/exchanges/{xid}/cancel", json={"reason": "visa"}, headers=auth(api, "mazovia"))).status_code == 200
    assert (await apply(api, pid, host_cluster_id="pole-scs")).status_code == 201


async def test_exchanges_of_other_partners_are_404_but_hosts_see_theirs(api):
    pid = await participant(api)
    xid = (await apply(api, pid)).json()["id"]
    theirs = await participant(api, "gaia", country="ES")
    assert (await apply(api, theirs, "mazovia", host_cluster_id="pole-scs")).status_code == 404
    assert (await api.get(f"/v1/exchanges/{xid}", headers=auth(api, "gaia"))).status_code == 200  # the host
    pole = await api.get("/v1/exchanges", headers=auth(api, "gaia"))
    assert [x["id"] for x in pole.json()] == [xid]
    assert (await api.post(f"/v1/exchanges/{xid}/cancel", headers=auth(api, "gaia"))).status_code == 403


# --- approving: the lump sum -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "participant_changes, exchange_changes, expected",
    [
        ({}, {}, 2200),  # Warsaw → San Sebastián, 10 working days: the Spanish cap
        ({}, {"end_date": "2026-06-04"}, 1100),  # 4 working days
        ({"city": "Bilbao", "country": "ES"}, {}, 1100),  # Bilbao → San Sebastián is ~75 km
        ({"city": None}, {"host_cluster_id": "business-hive-vilnius"}, 1700),  # Warsaw (cluster city) → Vilnius ~390 km
    ],
)
async def test_approval_computes_the_lump_sum(api, participant_changes, exchange_changes, expected):
    pid = await participant(api, **participant_changes)
    xid = (await apply(api, pid, **exchange_changes)).json()["id"]
    r = await api.post(f"/v1/exchanges/{xid}/approve", headers=auth(api, "coordinator"))
    assert r.status_code == 200, r.text
    assert r.json()["lump_sum_eur"] == expected and r.json()["status"] == "approved"
    approved = (await events(api, "exchange.approved"))[0]
    assert approved["subject"] == xid and approved["data"]["lump_sum_eur"] == expected


async def test_only_a_coordinator_approves_and_only_once(api):
    pid = await participant(api)
    xid = (await apply(api, pid)).json()["id"]
    assert (await api.post(f"/v1/exchanges/{xid}/approve", headers=auth(api, "mazovia"))).status_code == 403
    assert (await api.post(f"/v1/exchanges/{xid}/approve", headers=auth(api, "coordinator"))).status_code == 200
    again = await api.post(f"/v1/exchanges/{xid}/approve", headers=auth(api, "coordinator"))
    assert again.status_code == 409
    assert len(await events(api, "exchange.approved")) == 1


async def test_approve_replayed_with_its_idempotency_key_answers_200_again(api):
    pid = await participant(api)
    xid = (await apply(api, pid)).json()["id"]
    headers = {**auth(api, "coordinator"), "Idempotency-Key": "approve-1"}
    first = await api.post(f"/v1/exchanges/{xid}/approve", headers=headers)
    again = await api.post(f"/v1/exchanges/{xid}/approve", headers=headers)
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    assert len(await events(api, "exchange.approved")) == 1


# --- cancel and completion -------------------------------------------------------------------------


async def test_cancel_publishes_the_previous_status(api):
    pid = await participant(api)
    xid = (await apply(api, pid)).json()["id"]
    await api.post(f"/v1/exchanges/{xid}/approve", headers=auth(api, "coordinator"))
    r = await api.post(f"/v1/exchanges/{xid}/cancel", json={"reason": "illness"}, headers=auth(api, "mazovia"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    [event] = await events(api, "exchange.cancelled")
    assert event["data"]["previous_status"] == "approved" and event["data"]["host_cluster_id"] == "gaia"
    assert (await api.post(f"/v1/exchanges/{xid}/cancel", headers=auth(api, "mazovia"))).status_code == 409


async def test_completion_needs_an_approved_exchange(api):
    pid = await participant(api)
    xid = (await apply(api, pid)).json()["id"]
    early = await api.post(f"/v1/exchanges/{xid}/completion", json=COMPLETION, headers=auth(api, "mazovia"))
    assert early.status_code == 409
    await api.post(f"/v1/exchanges/{xid}/approve", headers=auth(api, "coordinator"))
    r = await api.post(f"/v1/exchanges/{xid}/completion", json=COMPLETION, headers=auth(api, "mazovia"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed" and r.json()["completion"]["satisfaction"] == 5
    [event] = await events(api, "exchange.completed")
    assert event["data"]["outcomes"] == ["partnership_agreement", "knowledge_transfer"]
    assert event["data"]["lump_sum_eur"] == 2200 and "testimonial" not in event["data"]
    assert (await api.post(f"/v1/exchanges/{xid}/cancel", headers=auth(api, "mazovia"))).status_code == 409
    done = await api.get("/v1/exchanges", params={"status": "completed"}, headers=auth(api, "coordinator"))
    assert [x["id"] for x in done.json()] == [xid]


async def test_completion_validates_the_closing_report(api):
    pid = await participant(api)
    xid = (await apply(api, pid)).json()["id"]
    await api.post(f"/v1/exchanges/{xid}/approve", headers=auth(api, "coordinator"))
    path = f"/v1/exchanges/{xid}/completion"
    r = await api.post(path, json={**COMPLETION, "satisfaction": 6}, headers=auth(api, "mazovia"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "satisfaction"
    r = await api.post(path, json={**COMPLETION, "outcomes": ["fame"]}, headers=auth(api, "mazovia"))
    assert r.status_code == 422
    r = await api.post(path, json={**COMPLETION, "completed_on": "2026-05-01"}, headers=auth(api, "mazovia"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "completed_on"
    assert await events(api, "exchange.completed") == []
