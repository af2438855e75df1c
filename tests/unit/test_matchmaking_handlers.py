"""Matchmaking's handlers on the one contract, with an in-memory repository and unit of work (no PostgreSQL):
visibility (the same rule for reads and writes), the request/answer lifecycle and its events, expiry,
scheduling, agenda and feedback. tests/integration/test_matchmaking_service.py proves the SQL."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.matchmaking import handlers
from services.matchmaking.domain.bounds import ScheduleLimits
from services.matchmaking.domain.meetings import Meeting
from shared.errors import Conflict, Forbidden, NotFound, RuleBroken
from shared.unit_of_work import Caller
from tests.support.fakes import FakeUnitOfWork
from tests.support.matchmaking import FakeRepository

SAXONY = Caller("saxony", "partner", "k-saxony")
GAIA = Caller("gaia", "partner", "k-gaia")
MAZOVIA = Caller("mazovia", "partner", "k-mazovia")
COORDINATOR = Caller("programme", "coordinator", "k-coord")
NOW = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)
MEETINGS = {"day_start": "09:00", "day_end": "10:00", "slot_minutes": 30, "tables": 1, "timezone": "Europe/Madrid"}


@dataclasses.dataclass(frozen=True)
class Settings:
    max_pending_requests: int = 2
    request_ttl_hours: float = 72.0
    schedule_time_limit_s: float = 1.0
    schedule_limits: ScheduleLimits = ScheduleLimits(days=366, slots=2000, meetings=20_000, cells=1_000_000)


@pytest.fixture
def world():
    """An activity hosted by saxony with one participant of saxony (de), gaia (es) and mazovia (pl)."""
    repo = FakeRepository()
    de, es, pl = repo.add_profile("saxony"), repo.add_profile("gaia", country="ES"), repo.add_profile("mazovia")
    act = repo.add_activity("saxony", meetings=dict(MEETINGS))
    repo.join(act, de, es, pl)
    return FakeUnitOfWork(repo, SAXONY), act, de, es, pl


async def request(uow, act, a, b, **kw):
    return await handlers.request_meeting(uow, handlers.RequestMeeting(act, a, b, "hello"), Settings(**kw), now=NOW)


async def test_a_request_creates_a_pending_meeting_and_publishes_it_with_its_expiry(world):
    uow, act, de, es, _ = world
    outcome = await request(uow, act, de, es)
    assert outcome.created and outcome.meeting.status == "pending" and outcome.meeting.message == "hello"
    assert uow.types() == ["meeting.requested"]
    assert uow.published[0].expires_at == NOW + timedelta(hours=72)
    assert uow.published[0].meeting_id == str(outcome.meeting.meeting_id)


async def test_a_partner_cannot_request_for_another_clusters_participant_and_nothing_happens(world):
    uow, act, de, es, _ = world
    with pytest.raises(NotFound, match=f"No participant {es}"):
        await request(uow, act, es, de)
    assert uow.published == [] and uow.repo.meetings == {}


async def test_rules_name_the_field_they_concern(world):
    uow, act, de, es, _ = world
    with pytest.raises(RuleBroken) as self_request:
        await request(uow, act, de, de)
    outsider = uow.repo.add_profile("gaia")
    with pytest.raises(RuleBroken) as not_joined:
        await request(uow, act, de, outsider)
    assert self_request.value.extra["errors"][0]["field"] == "target_id"
    assert not_joined.value.extra["errors"][0]["field"] == "target_id"
    assert self_request.value.kind == "rule-violation" and self_request.value.title == "Matchmaking rule violated"
    with pytest.raises(NotFound, match="No activity"):
        await request(uow, "no-such-activity", de, es)


async def test_asking_back_accepts_the_pair_as_mutual_and_asking_again_is_a_conflict(world):
    uow, act, de, es, _ = world
    first = (await request(uow, act, de, es)).meeting
    with pytest.raises(Conflict) as again:
        await request(uow, act, de, es)
    assert again.value.kind == "duplicate-request"
    back = await request(uow.as_(GAIA), act, es, de)
    assert not back.created and back.meeting.meeting_id == first.meeting_id
    assert back.meeting.status == "accepted" and back.meeting.mutual
    assert uow.types() == ["meeting.requested", "meeting.accepted"]


async def test_pending_requests_are_capped_per_requester(world):
    uow, act, de, es, pl = world
    await request(uow, act, de, es, max_pending_requests=1)
    with pytest.raises(Conflict) as capped:
        await request(uow, act, de, pl, max_pending_requests=1)
    assert capped.value.kind == "too-many-pending"


async def test_losing_the_race_for_a_pair_is_a_conflict_and_leaves_nothing_behind(world):
    uow, act, de, es, _ = world
    uow.repo.lose_next_race = True
    with pytest.raises(Conflict) as lost:
        await request(uow, act, de, es)
    assert lost.value.kind == "duplicate-request"
    assert uow.published == [] and uow.repo.meetings == {}


async def test_only_the_targets_cluster_answers_and_a_third_cluster_does_not_see_the_request(world):
    uow, act, de, es, _ = world
    meeting = (await request(uow, act, de, es)).meeting
    with pytest.raises(Forbidden):
        await handlers.answer(uow, meeting.meeting_id, True)  # the requester's own cluster
    with pytest.raises(NotFound, match="No meeting request"):
        await handlers.answer(uow.as_(MAZOVIA), meeting.meeting_id, True)
    accepted = await handlers.answer(uow.as_(GAIA), meeting.meeting_id, True)
    assert accepted.status == "accepted"
    assert (await handlers.answer(uow.as_(GAIA), meeting.meeting_id, True)) == accepted, "a retry changes nothing"
    with pytest.raises(Conflict) as late:
        await handlers.answer(uow.as_(GAIA), meeting.meeting_id, False)
    assert late.value.kind == "not-pending"
    assert uow.types() == ["meeting.requested", "meeting.accepted"]


async def test_reading_a_meeting_request_follows_the_same_rule_as_answering_it(world):
    uow, act, de, es, _ = world
    meeting = (await request(uow, act, de, es)).meeting
    for caller in (SAXONY, GAIA, COORDINATOR):
        assert (await handlers.meeting_for(uow.as_(caller), meeting.meeting_id)) == meeting
    with pytest.raises(NotFound):
        await handlers.meeting_for(uow.as_(MAZOVIA), meeting.meeting_id)
    with pytest.raises(NotFound):
        await handlers.meeting_for(uow, uuid.uuid4())


async def test_a_counterparts_profile_is_visible_only_while_sharing_an_activity():
    repo = FakeRepository()
    mine, theirs = repo.add_profile("saxony"), repo.add_profile("gaia", name="Basque Firm")
    uow = FakeUnitOfWork(repo, SAXONY)
    assert (await handlers.visible_profile(uow, mine))["cluster_id"] == "saxony"
    with pytest.raises(NotFound, match=f"No profile for participant {theirs}"):
        await handlers.visible_profile(uow, theirs)
    act = repo.add_activity("gaia")
    repo.join(act, theirs)
    with pytest.raises(NotFound):
        await handlers.visible_profile(uow, theirs)
    repo.join(act, mine)
    assert (await handlers.visible_profile(uow, theirs))["name"] == "Basque Firm"
    with pytest.raises(NotFound):
        await handlers.visible_profile(uow, "not-a-participant-id")


async def test_suggestions_are_served_for_visible_participants_only(world):
    uow, act, de, es, pl = world
    found = await handlers.suggestions_for(uow, act, de, 10)
    assert {s.participant_id for s in found} <= {es, pl}
    with pytest.raises(NotFound, match=f"No participant {es}"):
        await handlers.suggestions_for(uow, act, es, 10)
    with pytest.raises(NotFound, match="No activity"):
        await handlers.suggestions_for(uow, "nope", de, 10)


async def test_expiry_expires_due_requests_with_their_events_only(world):
    uow, act, de, es, pl = world
    due = (await request(uow, act, de, es)).meeting
    uow.repo.put(dataclasses.replace(due, expires_at=NOW - timedelta(minutes=1)))
    later = (await request(uow, act, de, pl)).meeting
    assert await handlers.expire(uow, NOW) == 1
    assert uow.repo.meetings[due.meeting_id].status == "expired"
    assert uow.repo.meetings[later.meeting_id].status == "pending"
    assert uow.types()[-1] == "meeting.expired" and uow.published[-1].meeting_id == str(due.meeting_id)
    assert await handlers.expire(uow, NOW) == 0


def accepted(repo: FakeRepository, act: str, a: str, b: str, **kw) -> Meeting:
    return repo.put(Meeting(uuid.uuid4(), act, a, b, None, "accepted", False, NOW, NOW, **kw))


async def test_scheduling_places_accepted_meetings_and_publishes_each_placement(world):
    uow, act, de, es, pl = world
    first, second = accepted(uow.repo, act, de, es), accepted(uow.repo, act, de, pl)
    run = await handlers.run_schedule(uow.as_(COORDINATOR), act, Settings())
    assert run["version"] == 1 and run["scheduled"] == 2 and run["unscheduled"] == 0
    placed = [uow.repo.meetings[m.meeting_id] for m in (first, second)]
    assert {m.slot for m in placed} == {0, 1}, "de cannot be in two meetings at once"
    assert uow.types() == ["meeting.scheduled", "meeting.scheduled"]
    assert all(e.schedule_version == 1 for e in uow.published)


async def test_a_meeting_whose_participant_left_is_unscheduled_with_the_reason(world):
    uow, act, de, es, _ = world
    gone = accepted(uow.repo, act, de, es)
    del uow.repo.joined[act][es]
    run = await handlers.run_schedule(uow, act, Settings())
    assert run["unscheduled_meetings"] == [{"meeting_id": str(gone.meeting_id),
                                            "reason": "a participant left the activity"}]
    assert uow.types() == ["meeting.unscheduled"]


async def test_scheduling_refuses_activities_without_settings_or_beyond_the_limits(world):
    uow, act, *_ = world
    bare = uow.repo.add_activity("saxony")
    with pytest.raises(Conflict) as no_settings:
        await handlers.run_schedule(uow, bare, Settings())
    assert no_settings.value.kind == "no-meeting-settings"
    tiny = ScheduleLimits(days=366, slots=1, meetings=20_000, cells=1_000_000)
    with pytest.raises(RuleBroken) as too_large:
        await handlers.run_schedule(uow, act, Settings(schedule_limits=tiny))
    assert too_large.value.kind == "schedule-too-large" and too_large.value.extra["rule"]
    uow.repo.activities[act]["meetings"] = {**MEETINGS, "timezone": "Mars/Olympus_Mons"}
    with pytest.raises(RuleBroken) as unusable:
        await handlers.run_schedule(uow, act, Settings())
    assert unusable.value.kind == "invalid-meeting-settings" and "errors" not in unusable.value.extra
    assert uow.published == []


async def test_the_agenda_is_the_hosts_or_one_visible_participants(world):
    uow, act, de, es, pl = world
    one = accepted(uow.repo, act, de, es, starts_at=NOW, ends_at=NOW + timedelta(minutes=30), slot=0, table=1)
    two = accepted(uow.repo, act, es, pl, starts_at=NOW, ends_at=NOW + timedelta(minutes=30), slot=0, table=2)
    everything = await handlers.agenda(uow, act, None)  # saxony hosts
    assert [m.meeting_id for m in everything.meetings] == [one.meeting_id, two.meeting_id]
    with pytest.raises(Forbidden):
        await handlers.agenda(uow.as_(GAIA), act, None)
    mine = await handlers.agenda(uow.as_(GAIA), act, es)
    assert {m.meeting_id for m in mine.meetings} == {one.meeting_id, two.meeting_id}
    with pytest.raises(NotFound, match=f"No participant {es}"):
        await handlers.agenda(uow.as_(MAZOVIA), act, es)
    with pytest.raises(NotFound, match="No activity with meetings"):
        await handlers.agenda(uow, uow.repo.add_activity("saxony"), None)


async def test_feedback_after_the_meeting_marks_it_held_while_every_rating_says_it_happened(world):
    uow, act, de, es, _ = world
    m = accepted(uow.repo, act, de, es, starts_at=NOW, ends_at=NOW + timedelta(minutes=30), slot=0, table=1)
    with pytest.raises(Conflict) as early:
        await handlers.rate(uow, m.meeting_id, de, "no_cooperation", now=NOW - timedelta(minutes=1))
    assert early.value.kind == "not-yet-held"
    with pytest.raises(NotFound, match="No meeting"):
        await handlers.rate(uow, m.meeting_id, es, "no_cooperation", now=NOW)  # not saxony's participant
    rated = await handlers.rate(uow, m.meeting_id, de, "cooperation_possible", now=NOW)
    assert rated.ratings == {de: "cooperation_possible"} and rated.held
    again = await handlers.rate(uow, m.meeting_id, de, "did_not_take_place", now=NOW)
    assert again.ratings == {de: "cooperation_possible"}, "the first rating stands"
    assert uow.types() == ["meeting.rated", "meeting.held"]


async def test_an_unscheduled_meeting_cannot_be_rated(world):
    uow, act, de, es, _ = world
    m = accepted(uow.repo, act, de, es)
    with pytest.raises(Conflict) as never:
        await handlers.rate(uow, m.meeting_id, de, "no_cooperation", now=NOW)
    assert never.value.kind == "not-scheduled"
