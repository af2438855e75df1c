"""Matchmaking in-process over HTTP (ASGI) with real PostgreSQL and a real Kafka-API broker.

Upstream events are produced straight onto the topics (as registration's outbox relay would), so these
tests do not depend on the registration API.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.matchmaking import handlers
from services.matchmaking.bootstrap import build
from services.matchmaking.settings import MatchmakingSettings
from shared import auth as api_keys
from shared.events import new_envelope
from shared.events.catalogue import (
    ActivityCreated,
    ActivityParticipantJoined,
    MeetingSettings,
    OfferOrRequest,
    ParticipantErased,
    ParticipantRegistered,
    ParticipantUpdated,
    Profile,
)
from shared.events.envelope import encode
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

ACTIVITY = str(uuid.uuid4())
DAY = date(2026, 7, 1)


@pytest.fixture
async def mm(request, database_url, kafka_bootstrap, topic_namespace):
    overrides = {"max_pending_requests": 2, "schedule_time_limit_s": 1.0, "expiry_interval_s": 3600,
                 **getattr(request, "param", {})}
    settings = MatchmakingSettings(
        database_url=database_url, kafka_bootstrap=kafka_bootstrap, consumer_session_timeout_ms=6000, **overrides,
    )
    service = build(settings)
    app = service.app()
    await service.start()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    async with service.pool.acquire() as conn:
        keys = {
            name: (await api_keys.issue_key(conn, cluster, role, None, source="/test"))[1]
            for name, cluster, role in [
                ("saxony", "silicon-saxony", "partner"), ("mazovia", "mazovia-ict", "partner"),
                ("gaia", "gaia", "partner"), ("coordinator", "silicon-saxony", "coordinator"),
                ("ops", "silicon-saxony", "ops"),
            ]
        }
        await conn.execute("DELETE FROM outbox")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        client.keys, client.pool, client.producer, client.service = keys, service.pool, producer, service
        client.namespace = topic_namespace
        yield client
    await producer.stop()
    await asyncio.wait_for(service.stop(), 15)


def auth(client, who):
    return {"Authorization": f"Bearer {client.keys[who]}"}


async def feed(client, *events):
    for e in events:
        key, value, headers = encode(new_envelope(e, source="/cxc/registration"))
        topic = client.namespace.topic(new_envelope(e, source="/x").topic.name)
        await client.producer.send_and_wait(topic, value, key=key, headers=headers)


async def outbox(client, prefix=""):
    rows = await client.pool.fetch("SELECT envelope FROM outbox ORDER BY position")
    return [e for e in (json.loads(r["envelope"]) for r in rows) if e["type"].startswith(prefix)]


def registered(pid, cluster, country, name, offers=(), requests=(), sectors=("J62.01",), keywords=("mobility",)):
    return ParticipantRegistered(
        participant_id=pid, registered_at=datetime.now(UTC),
        profile=Profile(cluster_id=cluster, kind="sme", name=name, country=country, sectors=sectors, keywords=keywords,
                        offers=tuple(OfferOrRequest(type=t, text=x) for t, x in offers),
                        requests=tuple(OfferOrRequest(type=t, text=x) for t, x in requests)),
    )


P = {k: str(uuid.uuid4()) for k in ("de", "pl", "es", "de2")}


async def setup_activity(mm, *, unavailable_es=(), online=False, tables=1):
    await feed(
        mm,
        registered(P["de"], "silicon-saxony", "DE", "Sax Robotics", offers=[("technology", "robot vision")],
                   requests=[("partnership", "automotive pilots")]),
        registered(P["pl"], "mazovia-ict", "PL", "Score Digital", offers=[("partnership", "automotive pilot sites")],
                   requests=[("technology", "robot vision systems")]),
        registered(P["es"], "gaia", "ES", "Basque Mobility", offers=[("partnership", "pilots")],
                   requests=[("technology", "vision")], sectors=("H49",)),
        registered(P["de2"], "silicon-saxony", "DE", "Dresden Chips", offers=[("product", "chips")],
                   requests=[("technology", "robot vision")]),
        ActivityCreated(
            activity_id=ACTIVITY, kind="mission", title="Mobility mission", host_cluster_id="silicon-saxony",
            country="DE", starts_on=DAY, ends_on=DAY, online=online,
            meetings=MeetingSettings(day_start="09:00", day_end="10:30", slot_minutes=30, tables=tables,
                                     timezone="Europe/Berlin"),
        ),
    )

    async def indexed():
        # The topics are independent streams: let the profiles land before the joins, as they do live
        # (match.suggested is computed at join time).
        return await mm.pool.fetchval("SELECT count(*) FROM profiles") == 4 or None

    await eventually(indexed, timeout=30)
    for k in ("de", "pl", "es", "de2"):
        await feed(mm, ActivityParticipantJoined(
            activity_id=ACTIVITY, participant_id=P[k], unavailable=unavailable_es if k == "es" else ()))

    async def joined():
        n = await mm.pool.fetchval("SELECT count(*) FROM activity_participants ap JOIN profiles p "
                                   "ON p.participant_id::text = ap.participant_id")
        return n == 4 or None

    await eventually(joined, timeout=30)


async def test_events_build_the_index_and_suggestions_are_reciprocal_filtered_and_explained(mm):
    await setup_activity(mm)
    r = await mm.get(f"/v1/activities/{ACTIVITY}/suggestions", params={"participant_id": P["de"]},
                     headers=auth(mm, "saxony"))
    assert r.status_code == 200, r.text
    ranked = r.json()
    ids = [s["participant_id"] for s in ranked]
    assert P["de2"] not in ids, "same cluster on a transnational mission is filtered out"
    assert ids[0] == P["pl"] and all(s["reasons"] for s in ranked)
    assert any("cross-border" in x for x in ranked[0]["reasons"])
    # another cluster's participant: 404, not a leak
    r = await mm.get(f"/v1/activities/{ACTIVITY}/suggestions", params={"participant_id": P["de"]},
                     headers=auth(mm, "mazovia"))
    assert r.status_code == 404
    suggested = await outbox(mm, "match.suggested")
    assert {e["data"]["participant_id"] for e in suggested} >= {P["de"], P["pl"]}

    # profile update and erasure flow through; erasure removes the profile and the participation
    await feed(mm, ParticipantUpdated(participant_id=P["pl"], changed=("name",), profile=Profile(
        cluster_id="mazovia-ict", kind="sme", name="Score Digital 2", country="PL")))
    await eventually(lambda: _name_is(mm, P["pl"], "Score Digital 2"), timeout=20)
    await feed(mm, ParticipantErased(participant_id=P["pl"], cluster_id="mazovia-ict", erased_at=datetime.now(UTC)))

    async def erased():
        gone = await mm.pool.fetchval("SELECT count(*) FROM profiles WHERE participant_id = $1", uuid.UUID(P["pl"])) == 0
        left = await mm.pool.fetchval("SELECT count(*) FROM activity_participants WHERE participant_id = $1", P["pl"]) == 0
        return (gone and left) or None

    await eventually(erased, timeout=20)
    r = await mm.get(f"/v1/activities/{ACTIVITY}/suggestions", params={"participant_id": P["de"]},
                     headers=auth(mm, "coordinator"))
    assert P["pl"] not in [s["participant_id"] for s in r.json()]


async def _name_is(mm, pid, name):
    return (await mm.pool.fetchval("SELECT name FROM profiles WHERE participant_id = $1", uuid.UUID(pid)) == name) or None


async def test_meeting_requests_answers_caps_and_expiry_publish_events(mm):
    await setup_activity(mm)
    req = {"activity_id": ACTIVITY, "requester_id": P["de"], "target_id": P["pl"], "message": "Let's talk"}
    r = await mm.post("/v1/meeting-requests", json=req, headers=auth(mm, "mazovia"))
    assert r.status_code == 404, "a partner cannot request for another cluster's participant"
    r = await mm.post("/v1/meeting-requests", json=req, headers=auth(mm, "ops"))
    assert r.status_code == 403
    r = await mm.post("/v1/meeting-requests", json={**req, "target_id": "nobody"}, headers=auth(mm, "saxony"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "target_id"
    r = await mm.post("/v1/meeting-requests", json=req, headers=auth(mm, "saxony"))
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["status"] == "pending" and r.headers["location"] == f"/v1/meeting-requests/{first['id']}"
    assert (await mm.post("/v1/meeting-requests", json=req, headers=auth(mm, "saxony"))).status_code == 409

    # the requester's cluster cannot answer for the target
    assert (await mm.post(f"/v1/meeting-requests/{first['id']}/accept", headers=auth(mm, "saxony"))).status_code == 403
    assert (await mm.post(f"/v1/meeting-requests/{first['id']}/accept", headers=auth(mm, "gaia"))).status_code == 404
    r = await mm.post(f"/v1/meeting-requests/{first['id']}/decline", headers=auth(mm, "mazovia"))
    assert r.status_code == 200 and r.json()["status"] == "declined"
    assert (await mm.post(f"/v1/meeting-requests/{first['id']}/accept", headers=auth(mm, "mazovia"))).status_code == 409

    # a request answered by a request the other way is a mutual, accepted meeting
    r = await mm.post("/v1/meeting-requests", json={**req, "target_id": P["es"]}, headers=auth(mm, "saxony"))
    to_es = r.json()
    r = await mm.post("/v1/meeting-requests", json={**req, "requester_id": P["es"], "target_id": P["de"]},
                      headers=auth(mm, "gaia"))
    assert r.status_code == 200 and r.json()["id"] == to_es["id"]
    assert r.json()["status"] == "accepted" and r.json()["mutual"] is True

    # pending cap (2 in this test's settings)
    for target in (P["de2"], P["pl"]):
        r = await mm.post("/v1/meeting-requests", json={**req, "requester_id": P["es"], "target_id": target},
                          headers=auth(mm, "gaia"))
        assert r.status_code == 201, r.text
    r = await mm.post("/v1/meeting-requests", json={**req, "requester_id": P["es"], "target_id": P["de"]},
                      headers=auth(mm, "coordinator"))
    assert r.status_code == 409, "es already has an open (accepted) meeting with de"

    # expiry: the sweep turns due pending requests into meeting.expired, once
    expired = await handlers.expire_due(mm.pool, now=datetime.now(UTC) + timedelta(days=30))
    assert expired == 2
    assert await handlers.expire_due(mm.pool, now=datetime.now(UTC) + timedelta(days=30)) == 0
    types = [e["type"] for e in await outbox(mm, "meeting.")]
    assert types.count("meeting.requested") == 4
    assert types.count("meeting.declined") == 1 and types.count("meeting.accepted") == 1
    assert types.count("meeting.expired") == 2
    assert all(e["subject"] == ACTIVITY for e in await outbox(mm, "meeting."))


async def _accepted_meeting(mm, a, b, who_a, who_b):
    r = await mm.post("/v1/meeting-requests", json={"activity_id": ACTIVITY, "requester_id": P[a], "target_id": P[b]},
                      headers=auth(mm, who_a))
    assert r.status_code == 201, r.text
    r = await mm.post(f"/v1/meeting-requests/{r.json()['id']}/accept", headers=auth(mm, who_b))
    assert r.status_code == 200, r.text
    return r.json()["id"]


async def test_schedule_agenda_ical_and_feedback(mm):
    # es is away from 09:00 to 10:00 local: only the 10:00 slot is left for es; one table
    away = ((datetime(2026, 7, 1, 9, 0), datetime(2026, 7, 1, 10, 0)),)
    await setup_activity(mm, unavailable_es=away, tables=1)
    de_pl = await _accepted_meeting(mm, "de", "pl", "saxony", "mazovia")
    de_es = await _accepted_meeting(mm, "de", "es", "saxony", "gaia")
    pl_es = await _accepted_meeting(mm, "pl", "es", "mazovia", "gaia")

    assert (await mm.post(f"/v1/activities/{ACTIVITY}/schedule", headers=auth(mm, "saxony"))).status_code == 403
    r = await mm.post(f"/v1/activities/{ACTIVITY}/schedule", headers=auth(mm, "coordinator"))
    assert r.status_code == 200, r.text
    body = r.json()
    # 3 slots, 1 table, es only at 10:00: two meetings fit, one of de-es / pl-es must go
    assert (body["version"], body["scheduled"], body["unscheduled"], body["upper_bound"]) == (1, 2, 1, 2)
    events = await outbox(mm, "meeting.")
    scheduled = [e for e in events if e["type"] == "meeting.scheduled"]
    unscheduled = [e for e in events if e["type"] == "meeting.unscheduled"]
    assert len(scheduled) == 2 and len(unscheduled) == 1
    assert {e["data"]["schedule_version"] for e in scheduled + unscheduled} == {1}
    assert unscheduled[0]["data"]["meeting_id"] in (de_es, pl_es) and unscheduled[0]["data"]["reason"]

    r = await mm.get(f"/v1/activities/{ACTIVITY}/agenda", params={"participant_id": P["de"]}, headers=auth(mm, "saxony"))
    assert r.status_code == 200
    agenda = r.json()
    assert agenda["timezone"] == "Europe/Berlin" and agenda["meetings"]
    by_id = {m["meeting_id"]: m for m in agenda["meetings"]}
    assert de_pl in by_id and by_id[de_pl]["table"] == 1 and by_id[de_pl]["with"] == P["pl"]
    assert all(m["starts_at"].endswith("+02:00") for m in agenda["meetings"])
    whole = (await mm.get(f"/v1/activities/{ACTIVITY}/agenda", headers=auth(mm, "coordinator"))).json()["meetings"]
    [es_meeting] = [m for m in whole if P["es"] in (m["requester_id"], m["target_id"])]
    assert es_meeting["starts_at"] == "2026-07-01T10:00:00+02:00", "es is away until 10:00"
    assert (await mm.get(f"/v1/activities/{ACTIVITY}/agenda", headers=auth(mm, "mazovia"))).status_code == 403
    r = await mm.get(f"/v1/activities/{ACTIVITY}/agenda", params={"participant_id": P["de"]},
                     headers={**auth(mm, "saxony"), "Accept": "text/calendar"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    assert r.text.count("BEGIN:VEVENT") == len(agenda["meetings"])
    assert "DTSTART;TZID=Europe/Berlin:20260701T" in r.text
    import icalendar  # the feed as a calendar client reads it

    calendar = icalendar.Calendar.from_ical(r.text)
    assert str(calendar["METHOD"]) == "PUBLISH" and [z.tz_name for z in calendar.timezones] == ["Europe/Berlin"]
    uids = {str(e["UID"]) for e in calendar.walk("VEVENT")}
    assert uids == {f"{m['meeting_id']}@clusterxchange" for m in agenda["meetings"]}
    assert all(str(e["ORGANIZER"]) == "mailto:no-reply@clusterxchange.eu" and "ATTENDEE" not in e
               for e in calendar.walk("VEVENT"))
    assert (await mm.get(f"/v1/activities/{ACTIVITY}/agenda", params={"participant_id": P["de"]},
                         headers=auth(mm, "mazovia"))).status_code == 404

    # re-running keeps every published placement
    before = {m["meeting_id"]: m["starts_at"] for m in agenda["meetings"]}
    r = await mm.post(f"/v1/activities/{ACTIVITY}/schedule", headers=auth(mm, "coordinator"))
    assert r.json()["version"] == 2 and r.json()["moved"] == 0 and r.json()["scheduled"] == 2
    again = (await mm.get(f"/v1/activities/{ACTIVITY}/agenda", params={"participant_id": P["de"]},
                          headers=auth(mm, "saxony"))).json()
    assert {m["meeting_id"]: m["starts_at"] for m in again["meetings"]} == before

    # de becomes unavailable in de-pl's slot: that meeting moves, reported, the others stay
    busy_from = datetime.fromisoformat(before[de_pl])
    await feed(mm, ActivityParticipantJoined(activity_id=ACTIVITY, participant_id=P["de"],
                                             unavailable=((busy_from, busy_from + timedelta(minutes=30)),)))

    async def de_busy():
        row = await mm.pool.fetchval("SELECT unavailable FROM activity_participants WHERE participant_id = $1", P["de"])
        return json.loads(row) != [] or None

    await eventually(de_busy, timeout=20)
    r = await mm.post(f"/v1/activities/{ACTIVITY}/schedule", headers=auth(mm, "coordinator"))
    assert (r.json()["version"], r.json()["moved"], r.json()["scheduled"]) == (3, 1, 2)
    moved = (await mm.get(f"/v1/activities/{ACTIVITY}/agenda", params={"participant_id": P["de"]},
                          headers=auth(mm, "saxony"))).json()["meetings"]
    after = {m["meeting_id"]: m["starts_at"] for m in moved}
    assert after[de_pl] != before[de_pl] and {k: v for k, v in after.items() if k != de_pl} == \
        {k: v for k, v in before.items() if k != de_pl}

    # feedback: held once both sides say it took place; a second rating by the same side changes nothing
    url = f"/v1/meetings/{de_pl}/feedback"
    r = await mm.post(url, json={"participant_id": P["de"], "rating": "cooperation_possible"}, headers=auth(mm, "saxony"))
    assert r.status_code == 200 and r.json()["held"] is True
    r = await mm.post(url, json={"participant_id": P["pl"], "rating": "no_cooperation"}, headers=auth(mm, "mazovia"))
    assert r.status_code == 200
    r = await mm.post(url, json={"participant_id": P["pl"], "rating": "did_not_take_place"}, headers=auth(mm, "mazovia"))
    assert r.json()["ratings"][P["pl"]] == "no_cooperation"
    r = await mm.post(url, json={"participant_id": P["pl"], "rating": "great"}, headers=auth(mm, "mazovia"))
    assert r.status_code == 422
    assert (await mm.post(url, json={"participant_id": P["pl"], "rating": "no_cooperation"},
                          headers=auth(mm, "saxony"))).status_code == 404
    types = [e["type"] for e in await outbox(mm, "meeting.")]
    assert types.count("meeting.rated") == 2 and types.count("meeting.held") == 1

    # an erased participant's meeting is dropped loudly at the next run, never silently
    await feed(mm, ParticipantErased(participant_id=P["es"], cluster_id="gaia", erased_at=datetime.now(UTC)))

    async def es_gone():
        return (await mm.pool.fetchval("SELECT count(*) FROM activity_participants WHERE participant_id = $1",
                                       P["es"]) == 0) or None

    await eventually(es_gone, timeout=20)
    await mm.pool.execute("DELETE FROM outbox")
    r = await mm.post(f"/v1/activities/{ACTIVITY}/schedule", headers=auth(mm, "coordinator"))
    assert (r.json()["version"], r.json()["scheduled"]) == (4, 1)
    dropped = [e["data"] for e in await outbox(mm, "meeting.unscheduled")]
    assert {d["meeting_id"] for d in dropped} == {de_es, pl_es}
    assert {d["reason"] for d in dropped} == {"a participant left the activity"}


@pytest.mark.parametrize("mm", [{"request_ttl_hours": 0.5 / 3600, "expiry_interval_s": 0.2}], indirect=True)
async def test_the_expiry_worker_expires_unanswered_requests_and_they_stop_blocking_the_pair(mm):
    await setup_activity(mm)
    req = {"activity_id": ACTIVITY, "requester_id": P["de"], "target_id": P["pl"]}
    r = await mm.post("/v1/meeting-requests", json=req, headers=auth(mm, "saxony"))
    assert r.status_code == 201
    mid = r.json()["id"]

    async def expired():
        got = await mm.get(f"/v1/meeting-requests/{mid}", headers=auth(mm, "saxony"))
        return got.json()["status"] == "expired" or None

    await eventually(expired, timeout=15)
    assert [e["data"]["meeting_id"] for e in await outbox(mm, "meeting.expired")] == [mid]
    r = await mm.post("/v1/meeting-requests", json=req, headers=auth(mm, "saxony"))
    assert r.status_code == 201 and r.json()["id"] != mid


async def test_a_meeting_cannot_be_rated_before_it_starts(mm):
    await setup_activity(mm)
    future = str(uuid.uuid4())
    day = date.today() + timedelta(days=30)
    await feed(mm, ActivityCreated(
        activity_id=future, kind="matchmaking_event", title="Next month", host_cluster_id="gaia", country="ES",
        starts_on=day, ends_on=day, online=True,
        meetings=MeetingSettings(day_start="09:00", day_end="10:00", slot_minutes=20, tables=1, timezone="Europe/Madrid"),
    ))
    for k in ("de", "pl"):
        await feed(mm, ActivityParticipantJoined(activity_id=future, participant_id=P[k]))

    async def joined():
        return (await mm.pool.fetchval("SELECT count(*) FROM activity_participants WHERE activity_id = $1", future) == 2
                ) or None

    await eventually(joined, timeout=20)
    r = await mm.post("/v1/meeting-requests", json={"activity_id": future, "requester_id": P["de"], "target_id": P["pl"]},
                      headers=auth(mm, "saxony"))
    mid = r.json()["id"]
    assert (await mm.post(f"/v1/meeting-requests/{mid}/accept", headers=auth(mm, "mazovia"))).status_code == 200
    r = await mm.post(f"/v1/activities/{future}/schedule", headers=auth(mm, "coordinator"))
    assert r.json()["scheduled"] == 1
    [event] = [e["data"] for e in await outbox(mm, "meeting.scheduled") if e["data"]["meeting_id"] == mid]
    assert event["online"] is True and event["table"] is None, "online activities have no tables"
    r = await mm.post(f"/v1/meetings/{mid}/feedback", json={"participant_id": P["de"], "rating": "cooperation_possible"},
                      headers=auth(mm, "saxony"))
    assert r.status_code == 409 and r.json()["type"].endswith("not-yet-held")
    assert await outbox(mm, "meeting.rated") == []
