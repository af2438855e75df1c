"""End to end through every hop: participants registered at the ingress API, joined to a matchmaking event,
a meeting requested and accepted, the schedule run, agendas served (JSON and iCalendar), events on the
topics — all four services as processes started by `cxc run`."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import httpx
import pytest

from shared.messaging.namespace import Namespace
from tests.support.topics import read_all
from tests.support.payloads import PARTICIPANT
from tests.support.polling import poll
from tests.support.stack import running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(stack_infra):
    with running_stack("cxc-e2e-mm-", stack_infra) as s:
        yield s


def test_register_join_request_accept_schedule_agenda(stack):
    reg, mm = stack.url("registration"), stack.url("matchmaking")
    day = date.today() + timedelta(days=30)
    activity = httpx.post(f"{reg}/v1/activities", headers=stack.key("coordinator"), json={
        "kind": "matchmaking_event", "title": "Smart mobility B2B", "host_cluster_id": "pole-scs",
        "city": "Sophia Antipolis", "country": "FR", "starts_on": day.isoformat(), "ends_on": day.isoformat(),
        "online": False, "meetings": {"day_start": "09:00", "day_end": "12:00", "slot_minutes": 30, "tables": 4,
                                      "timezone": "Europe/Paris"},
    })
    assert activity.status_code == 201, activity.text
    aid = activity.json()["id"]
    people = {}
    for cluster, name, country in [("mazovia-ict", "Score Digital", "PL"), ("gaia", "Basque Mobility", "ES")]:
        r = httpx.post(f"{reg}/v1/participants", headers=stack.key(cluster),
                       json={**PARTICIPANT, "name": name, "country": country})
        assert r.status_code == 201, r.text
        people[cluster] = r.json()["id"]
        joined = httpx.post(f"{reg}/v1/activities/{aid}/participants", headers=stack.key(cluster),
                            json={"participant_id": people[cluster]})
        assert joined.status_code == 201, joined.text

    def request_meeting():
        r = httpx.post(f"{mm}/v1/meeting-requests", headers=stack.key("mazovia-ict"), json={
            "activity_id": aid, "requester_id": people["mazovia-ict"], "target_id": people["gaia"],
            "message": "Let's talk V2X pilots"})
        return r if r.status_code == 201 else None  # 404 until matchmaking has consumed the joins

    meeting = poll(request_meeting, timeout=30, interval=0.2).json()
    accepted = httpx.post(f"{mm}/v1/meeting-requests/{meeting['id']}/accept", headers=stack.key("gaia"))
    assert accepted.status_code == 200, accepted.text

    schedule = httpx.post(f"{mm}/v1/activities/{aid}/schedule", headers=stack.key("coordinator"))
    assert schedule.status_code == 200, schedule.text
    assert schedule.json()["scheduled"] == 1 and schedule.json()["upper_bound"] == 1

    agenda = httpx.get(f"{mm}/v1/activities/{aid}/agenda", params={"participant_id": people["gaia"]},
                       headers=stack.key("gaia")).json()
    [slot] = agenda["meetings"]
    assert slot["with"] == people["mazovia-ict"] and slot["starts_at"].startswith(day.isoformat())
    assert slot["starts_at"].endswith(("+01:00", "+02:00")), "times are in the activity's timezone"
    ics = httpx.get(f"{mm}/v1/activities/{aid}/agenda", params={"participant_id": people["gaia"]},
                    headers={**stack.key("gaia"), "Accept": "text/calendar"})
    assert ics.headers["content-type"].startswith("text/calendar") and "BEGIN:VEVENT" in ics.text

    meetings = Namespace(stack.dev["topic_namespace"]).topic("cxc.meetings")
    events = asyncio.run(read_all(stack.dev["kafka_bootstrap"], meetings, expect=3))
    types = [json.loads(e.value)["type"] for e in events if json.loads(e.value)["subject"] == aid]
    assert {"meeting.requested", "meeting.accepted", "meeting.scheduled"} <= set(types)
