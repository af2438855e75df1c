"""The scheduler refuses a run too large to build before it builds anything (issue 13, point 9).

Activities arrive as events through matchmaking's own consumer handlers (events are facts: even settings no
grid can be built from are stored) and the schedule is asked for over HTTP, in-process against real
PostgreSQL. ``slots.grid`` is watched: a refused run must never reach it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from services.matchmaking import handlers
from services.matchmaking.adapters import activities, profiles
from services.matchmaking.domain import slots
from shared.events import new_envelope
from shared.events.catalogue import ActivityCreated, ActivityUpdated, MeetingSettings, Profile
from tests.support.inprocess import key, serving

pytestmark = pytest.mark.integration

DAY = date(2026, 9, 1)
FAST = {"schedule_time_limit_s": 1.0}


@pytest.fixture
def grids(monkeypatch):
    """Every grid the scheduler builds, by its first and last day."""
    built = []
    real = slots.grid

    def watched(starts_on, ends_on, *args):
        built.append((starts_on, ends_on))
        return real(starts_on, ends_on, *args)

    monkeypatch.setattr(slots, "grid", watched)
    return built


def created(activity_id: str, ends_on: date, meetings: MeetingSettings) -> ActivityCreated:
    return ActivityCreated(activity_id=activity_id, kind="matchmaking_event", title="Brokerage day",
                           host_cluster_id="gaia", country="ES", starts_on=DAY, ends_on=ends_on, meetings=meetings)


def updated(activity_id: str, timezone: str) -> ActivityUpdated:
    return ActivityUpdated(activity_id=activity_id, title="Brokerage day", starts_on=DAY, ends_on=DAY, online=False,
                           meetings=MeetingSettings(day_start="09:00", day_end="11:00", slot_minutes=30, tables=2,
                                                    timezone=timezone))


async def activity_with_a_meeting(api, event: ActivityCreated, unavailable=()) -> None:
    """The activity (through the consumer's handler), two joined participants and their accepted meeting."""
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    async with api.pool.acquire() as conn, conn.transaction():
        await handlers.activity_created(conn, new_envelope(event, source="/cxc/registration"))
        for pid, cluster, country in ((a, "gaia", "ES"), (b, "mazovia-ict", "PL")):
            await profiles.upsert(conn, pid, Profile(cluster_id=cluster, kind="sme", name="Firm", country=country))
            await activities.join(conn, event.activity_id, pid, unavailable)
    r = await api.post("/v1/meeting-requests", headers=key(api, "b"),
                       json={"activity_id": event.activity_id, "requester_id": a, "target_id": b})
    assert r.status_code == 201, r.text
    r = await api.post(f"/v1/meeting-requests/{r.json()['id']}/accept", headers=key(api, "a"))
    assert r.status_code == 200, r.text
    await api.pool.execute("DELETE FROM outbox")


async def nothing_scheduled(api, activity_id: str) -> None:
    assert await api.pool.fetchval("SELECT count(*) FROM schedules WHERE activity_id = $1", activity_id) == 0
    assert await api.pool.fetchval(
        "SELECT count(*) FROM meetings WHERE activity_id = $1 AND schedule_version IS NOT NULL", activity_id) == 0
    assert await api.pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_hundred_year_activity_with_five_minute_slots_is_refused_before_any_slot_exists(database_url, grids):
    async with serving("matchmaking", database_url, **FAST) as api:
        huge = str(uuid.uuid4())
        await activity_with_a_meeting(api, created(huge, date(2126, 8, 31), MeetingSettings(
            day_start="00:00", day_end="23:55", slot_minutes=5, tables=10, timezone="Europe/Madrid")))

        r = await api.post(f"/v1/activities/{huge}/schedule", headers=key(api, "coordinator"))
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["type"].endswith("/schedule-too-large")
        days = (date(2126, 8, 31) - DAY).days + 1  # 36524: a hundred years
        assert (problem["rule"], problem["limit"], problem["value"]) == ("span", 366, days)
        assert f"{days} days" in problem["detail"] and "366" in problem["detail"]
        assert grids == []
        await nothing_scheduled(api, huge)

        # A normal activity of the same service still schedules.
        normal = str(uuid.uuid4())
        await activity_with_a_meeting(api, created(normal, DAY, MeetingSettings(
            day_start="09:00", day_end="11:00", slot_minutes=30, tables=2, timezone="Europe/Madrid")))
        r = await api.post(f"/v1/activities/{normal}/schedule", headers=key(api, "coordinator"))
        assert r.status_code == 200, r.text
        assert (r.json()["scheduled"], r.json()["unscheduled"]) == (1, 0)
        assert grids == [(DAY, DAY)]


async def test_too_many_slots_and_too_large_a_run_are_refused_naming_the_rule(database_url, grids):
    async with serving("matchmaking", database_url, max_schedule_cells=40, **FAST) as api:
        month = str(uuid.uuid4())  # 30 days of 5-minute slots all day: within the span, far over the slots
        await activity_with_a_meeting(api, created(month, date(2026, 9, 30), MeetingSettings(
            day_start="00:00", day_end="23:55", slot_minutes=5, tables=10, timezone="Europe/Madrid")))
        r = await api.post(f"/v1/activities/{month}/schedule", headers=key(api, "coordinator"))
        assert r.status_code == 422, r.text
        assert (r.json()["rule"], r.json()["limit"], r.json()["value"]) == ("slots", 2000, 30 * 287)

        # 8 slots × (2 participants + 1 meeting + 2 unavailable periods) = 40 fits; one more period does not.
        day = str(uuid.uuid4())
        busy = ((datetime(2026, 9, 1, 8, tzinfo=UTC), datetime(2026, 9, 1, 8, 30, tzinfo=UTC)),)
        await activity_with_a_meeting(api, created(day, DAY, MeetingSettings(
            day_start="09:00", day_end="13:00", slot_minutes=30, tables=2, timezone="Europe/Madrid")), busy)
        r = await api.post(f"/v1/activities/{day}/schedule", headers=key(api, "coordinator"))
        assert r.status_code == 200, r.text
        async with api.pool.acquire() as conn:
            pid = await conn.fetchval("SELECT participant_id FROM activity_participants WHERE activity_id = $1", day)
            await activities.join(conn, day, pid, busy * 2)
        r = await api.post(f"/v1/activities/{day}/schedule", headers=key(api, "coordinator"))
        assert r.status_code == 422, r.text
        assert (r.json()["rule"], r.json()["limit"], r.json()["value"]) == ("cells", 40, 48)
        assert "8 slots" in r.json()["detail"]
        assert grids == [(DAY, DAY)], "only the run within the limits built a grid"


async def test_unusable_meeting_settings_are_stored_from_the_event_but_refused_at_scheduling(database_url, grids):
    async with serving("matchmaking", database_url, **FAST) as api:
        act = str(uuid.uuid4())
        # slot_minutes=0 would make the grid loop forever; the consumer's handler still stores the fact.
        await activity_with_a_meeting(api, created(act, DAY, MeetingSettings(
            day_start="09:00", day_end="11:00", slot_minutes=0, tables=2, timezone="Europe/Madrid")))
        r = await api.post(f"/v1/activities/{act}/schedule", headers=key(api, "coordinator"))
        assert r.status_code == 422, r.text
        assert r.json()["type"].endswith("/invalid-meeting-settings")
        assert "slot_minutes" in r.json()["detail"]
        await nothing_scheduled(api, act)

        # An update with an unknown time zone is stored too, and refused the same way.
        async with api.pool.acquire() as conn, conn.transaction():
            await handlers.activity_updated(conn, new_envelope(updated(act, "Mars/Olympus_Mons"), source="/x"))
        r = await api.post(f"/v1/activities/{act}/schedule", headers=key(api, "coordinator"))
        assert r.status_code == 422 and "timezone" in r.json()["detail"], r.text
        assert grids == []

        # Fixed settings schedule.
        async with api.pool.acquire() as conn, conn.transaction():
            await handlers.activity_updated(conn, new_envelope(updated(act, "Europe/Madrid"), source="/x"))
        r = await api.post(f"/v1/activities/{act}/schedule", headers=key(api, "coordinator"))
        assert r.status_code == 200 and r.json()["scheduled"] == 1, r.text


async def test_a_request_may_shorten_the_search_budget_never_lengthen_it(database_url):
    async with serving("matchmaking", database_url, **FAST) as api:
        act = str(uuid.uuid4())
        await activity_with_a_meeting(api, created(act, DAY, MeetingSettings(
            day_start="09:00", day_end="11:00", slot_minutes=30, tables=2, timezone="Europe/Madrid")))
        url, coordinator = f"/v1/activities/{act}/schedule", key(api, "coordinator")
        assert (await api.post(url, headers=coordinator)).json()["time_limit_s"] == 1.0
        assert (await api.post(url, params={"time_limit_s": 0.5}, headers=coordinator)).json()["time_limit_s"] == 0.5
        assert (await api.post(url, params={"time_limit_s": 3600}, headers=coordinator)).json()["time_limit_s"] == 1.0
        for bad in ("0", "-1", "inf", "nan"):
            r = await api.post(url, params={"time_limit_s": bad}, headers=coordinator)
            assert r.status_code == 422, (bad, r.text)
