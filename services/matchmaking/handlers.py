"""What matchmaking does on an event or a command: state change and its events, in one transaction.

Commands and reads follow the handler contract (shared/unit_of_work.py): they take the unit of work (the
repository, the outbox, the caller) and their arguments, raise domain errors (shared/errors.py) and return
domain values; the routes shape the views. Who may see what is decided once, in the ``visible_*`` and
``meeting_for`` functions below, for reads and writes alike. Consumed events keep the consumer's contract
(a connection inside its idempotent transaction).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from dataclasses import dataclass

import asyncpg

from services.matchmaking.adapters import activities, meetings, profiles
from services.matchmaking.adapters.repository import Repository
from services.matchmaking.domain import bounds, scheduler, slots, suggestions
from services.matchmaking.domain.meetings import HELD_RATINGS, Meeting, PairTaken, Rated, Requested
from shared import privacy
from shared.events.catalogue import (
    PersonalProfile,
    join_profile,
    MatchSuggested,
    MeetingAccepted,
    MeetingDeclined,
    MeetingExpired,
    MeetingHeld,
    MeetingRated,
    MeetingRequested,
    MeetingScheduled,
    MeetingUnscheduled,
)
from shared.events.envelope import Envelope
from shared.messaging import outbox
from shared.errors import Conflict, Forbidden, NotFound, RuleBroken
from shared.unit_of_work import Caller, UnitOfWork, unit_of_work

SOURCE = "/cxc/matchmaking"
SUGGESTIONS_PUBLISHED_ON_JOIN = 5


# The expiry sweeper acts for the programme, not for an API key.
SYSTEM = Caller(cluster_id="", role="ops", key_id="matchmaking-expiry")

Work = UnitOfWork[Repository]


# --- consumed events -----------------------------------------------------------------------------


async def profile_changed(conn: asyncpg.Connection, envelope: Envelope, keys: privacy.KeyRing) -> None:
    e = envelope.payload()
    if await privacy.erased(conn, [e.participant_id]):
        return  # a late or replayed event of an erased participant: nothing comes back
    personal = await privacy.unseal(keys, e.personal, privacy.PROFILE)
    if personal is None:
        return  # the key is destroyed: erased at the source, and its participant.erased is on the way
    await profiles.upsert(conn, e.participant_id, join_profile(e.profile, PersonalProfile(**personal)))


async def participant_erased(conn: asyncpg.Connection, envelope: Envelope) -> None:
    pid = envelope.payload().participant_id
    await privacy.tombstone(conn, pid)
    await profiles.delete(conn, pid)
    # Their unavailable periods go too; their meetings stay as anonymous ids and drop out of the next
    # schedule run with a meeting.unscheduled event.
    await activities.leave_all(conn, pid)
    # A request's message is free text between two people and may name either: it goes whichever side
    # was erased.
    await meetings.forget_messages_of(conn, pid)


def profile_handlers(keys: privacy.KeyRing) -> dict:
    """participant.* handlers opening sealed profiles with ``keys`` (registration's key lookup)."""

    async def changed(conn: asyncpg.Connection, envelope: Envelope) -> None:
        await profile_changed(conn, envelope, keys)

    async def erased(conn: asyncpg.Connection, envelope: Envelope) -> None:
        await participant_erased(conn, envelope)
        keys.forget(envelope.payload().participant_id)

    return {"participant.registered": changed, "participant.updated": changed, "participant.erased": erased}


async def activity_created(conn: asyncpg.Connection, envelope: Envelope) -> None:
    await activities.upsert_created(conn, envelope.payload())


async def activity_updated(conn: asyncpg.Connection, envelope: Envelope) -> None:
    e = envelope.payload()
    if not await activities.apply_update(conn, e):
        # The key is the activity id, so created precedes updated on the topic; raise to retry/dead-letter
        # rather than lose the update.
        raise LookupError(f"activity.updated for unknown activity {e.activity_id}")


async def participant_joined(conn: asyncpg.Connection, envelope: Envelope) -> None:
    e = envelope.payload()
    if await privacy.erased(conn, [e.participant_id]):
        return  # joined before the erasure but arriving (or replayed) after it: no place comes back
    if not await activities.exists(conn, e.activity_id):
        raise LookupError(f"activity.participant_joined for unknown activity {e.activity_id}")
    await activities.join(conn, e.activity_id, e.participant_id, e.unavailable)
    await publish_suggestions(conn, e.activity_id, e.participant_id)


async def participant_left(conn: asyncpg.Connection, envelope: Envelope) -> None:
    e = envelope.payload()
    await activities.leave(conn, e.activity_id, e.participant_id)


ACTIVITY_HANDLERS = {
    "activity.created": activity_created,
    "activity.updated": activity_updated,
    "activity.participant_joined": participant_joined,
    "activity.participant_left": participant_left,
}


# --- who may see what: one rule each, for reads and writes ---------------------------------------


async def _sees(uow: Work, participant_id: str) -> bool:
    """Whether the caller sees this participant as its own (its cluster's, or any for the programme)."""
    profile = await uow.repo.profile(participant_id)
    return profile is not None and uow.caller.can_see(profile["cluster_id"])


async def visible_participant(uow: Work, participant_id: str) -> None:
    """The caller acts or reads for this participant: another cluster's participant does not exist for it."""
    if not await _sees(uow, participant_id):
        raise NotFound.of("participant", participant_id)


async def visible_profile(uow: Work, participant_id: str) -> dict:
    """A partner reads its own cluster's profiles, and a counterpart's only while one of its own participants
    takes part in the same activity (the pool suggestions and requests come from); anything else is another
    cluster's directory."""
    profile = await uow.repo.profile(participant_id)
    if profile is not None and (uow.caller.can_see(profile["cluster_id"]) or await uow.repo.meets_cluster(
            str(participant_id), uow.caller.cluster_id)):
        return profile
    raise NotFound(f"No profile for participant {participant_id}")


async def meeting_for(uow: Work, meeting_id: uuid.UUID, *, lock: bool = False) -> Meeting:
    """A meeting request exists for the clusters of its two parties (and the programme), for nobody else."""
    meeting = await uow.repo.meeting(meeting_id, lock=lock)
    if meeting is None or not any([await _sees(uow, p) for p in meeting.parties]):
        raise NotFound.of("meeting request", meeting_id)
    return meeting


# --- suggestions ---------------------------------------------------------------------------------


def _candidate(row: dict) -> suggestions.Candidate:
    return suggestions.Candidate(
        participant_id=str(row["participant_id"]), cluster_id=row["cluster_id"], name=row["name"],
        country=row["country"], sectors=tuple(row["sectors"]), keywords=tuple(row["keywords"]),
        offers=tuple(suggestions.Need(o["type"], o["text"]) for o in row["offers"]),
        requests=tuple(suggestions.Need(r["type"], r["text"]) for r in row["requests"]),
    )


async def suggest(repo: Repository, activity_id: str, participant_id: str, limit: int,
                  pool: list[suggestions.Candidate] | None = None) -> list[suggestions.Suggestion]:
    activity = await repo.activity(activity_id)
    if activity is None:
        raise NotFound.of("activity", activity_id)
    if pool is None:
        pool = [_candidate(r) for r in await repo.participants(activity_id)]
    me = next((c for c in pool if c.participant_id == participant_id), None)
    if me is None:
        raise NotFound.of(f"participant of activity {activity_id}:", participant_id)
    return suggestions.suggest(
        me, pool, transnational=activity["kind"] in suggestions.TRANSNATIONAL_KINDS,
        declined=await repo.declined_partners(activity_id, participant_id), limit=limit,
    )


async def suggestions_for(uow: Work, activity_id: str, participant_id: str, limit: int) -> list[suggestions.Suggestion]:
    await visible_participant(uow, participant_id)
    return await suggest(uow.repo, activity_id, participant_id, limit)


async def publish_suggestions(conn: asyncpg.Connection, activity_id: str, participant_id: str) -> None:
    """A newcomer and its best matches hear about each other as match.suggested events (the score is
    symmetric, so the newcomer's top list is also where it ranks high for the others)."""
    if await profiles.get(conn, participant_id) is None:
        return  # profile not seen yet (other topic); suggestions are still served on request
    repo = Repository(conn)
    pool = [_candidate(r) for r in await activities.participants(conn, activity_id)]
    for s in await suggest(repo, activity_id, participant_id, SUGGESTIONS_PUBLISHED_ON_JOIN, pool):
        await outbox.record(conn, MatchSuggested(
            activity_id=activity_id, participant_id=participant_id, suggested_id=s.participant_id,
            score=s.score, reasons=s.reasons,
        ), source=SOURCE)
        theirs = await suggest(repo, activity_id, s.participant_id, len(pool), pool)
        back = next((t for t in theirs if t.participant_id == participant_id), None)
        if back is not None:
            await outbox.record(conn, MatchSuggested(
                activity_id=activity_id, participant_id=s.participant_id, suggested_id=participant_id,
                score=back.score, reasons=back.reasons,
            ), source=SOURCE)


# --- meeting requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestMeeting:
    activity_id: str
    requester_id: str
    target_id: str
    message: str | None = None


def _event_ids(m: Meeting) -> dict:
    return dict(meeting_id=str(m.meeting_id), activity_id=m.activity_id, requester_id=m.requester_id,
                target_id=m.target_id)


def _rule(field: str, message: str) -> RuleBroken:
    return RuleBroken(field, message, title="Matchmaking rule violated")


async def request_meeting(uow: Work, cmd: RequestMeeting, settings, *, now: datetime | None = None) -> Requested:
    await visible_participant(uow, cmd.requester_id)
    if await uow.repo.activity(cmd.activity_id) is None:
        raise NotFound.of("activity", cmd.activity_id)
    if cmd.requester_id == cmd.target_id:
        raise _rule("target_id", "A participant cannot request a meeting with itself")
    for field, pid in (("requester_id", cmd.requester_id), ("target_id", cmd.target_id)):
        if not await uow.repo.is_participant(cmd.activity_id, pid):
            raise _rule(field, f"Participant {pid} has not joined activity {cmd.activity_id}")
    existing = await uow.repo.open_meeting_between(cmd.activity_id, cmd.requester_id, cmd.target_id)
    if existing is not None:
        if existing.status == "pending" and existing.target_id == cmd.requester_id:
            # Both sides asked: the pair's meeting is accepted and counts as mutual for the scheduler.
            meeting = await uow.repo.decide(existing.meeting_id, "accepted", mutual=True)
            await uow.publish(MeetingAccepted(**_event_ids(meeting)))
            return Requested(meeting, created=False)
        raise Conflict(f"An open meeting request between {cmd.requester_id} and {cmd.target_id} exists: "
                       f"{existing.meeting_id}", kind="duplicate-request")
    if await uow.repo.pending_count(cmd.requester_id) >= settings.max_pending_requests:
        raise Conflict(f"Participant {cmd.requester_id} already has {settings.max_pending_requests} pending "
                       "requests; wait for answers or let some expire", kind="too-many-pending")
    expires_at = (now or datetime.now(UTC)) + timedelta(hours=settings.request_ttl_hours)
    try:
        async with uow.savepoint():  # losing a race for the pair is a conflict, not a failed transaction
            meeting = await uow.repo.create_meeting(cmd.activity_id, cmd.requester_id, cmd.target_id, cmd.message,
                                                    expires_at)
    except PairTaken:
        raise Conflict(f"An open meeting request between {cmd.requester_id} and {cmd.target_id} exists",
                       kind="duplicate-request") from None
    await uow.publish(MeetingRequested(**_event_ids(meeting), expires_at=expires_at))
    return Requested(meeting, created=True)


async def answer(uow: Work, meeting_id: uuid.UUID, accept: bool) -> Meeting:
    meeting = await meeting_for(uow, meeting_id, lock=True)
    if not await _sees(uow, meeting.target_id):
        raise Forbidden("Only the target's cluster (or a coordinator) can answer a meeting request")
    wanted = "accepted" if accept else "declined"
    if meeting.status == wanted:
        return meeting  # a retried answer changes nothing
    if meeting.status != "pending":
        raise Conflict(f"Meeting request {meeting_id} is {meeting.status}", kind="not-pending")
    meeting = await uow.repo.decide(meeting_id, wanted)
    event = MeetingAccepted if accept else MeetingDeclined
    await uow.publish(event(**_event_ids(meeting)))
    return meeting


async def expire(uow: Work, now: datetime, batch: int = 200) -> int:
    """Expire pending requests past their time, each with its meeting.expired event. Returns how many."""
    due = await uow.repo.due_for_expiry(now, batch)
    for meeting in due:
        await uow.repo.decide(meeting.meeting_id, "expired")
        await uow.publish(MeetingExpired(**_event_ids(meeting)))
    return len(due)


async def expire_due(pool: asyncpg.Pool, now: datetime | None = None, batch: int = 200) -> int:
    async with unit_of_work(pool, SYSTEM, Repository, source=SOURCE) as uow:
        return await expire(uow, now or datetime.now(UTC), batch)


# --- scheduling ----------------------------------------------------------------------------------


async def run_schedule(uow: Work, activity_id: str, settings, time_limit: float | None = None) -> dict:
    """Schedule the activity's accepted meetings. ``time_limit`` may shorten the configured search budget,
    never lengthen it; a run larger than the configured limits is refused before anything is built."""
    cap = settings.schedule_time_limit_s
    time_limit = cap if time_limit is None else min(time_limit, cap)
    activity = await uow.repo.activity(activity_id, lock=True)
    if activity is None:
        raise NotFound.of("activity", activity_id)
    ms = activity["meetings"]
    if not ms:
        raise Conflict(f"Activity {activity_id} has no meeting settings (day_start, slot_minutes, ...)",
                       kind="no-meeting-settings")
    limits = settings.schedule_limits
    try:
        size = slots.size(activity["starts_on"], activity["ends_on"], ms)
        bounds.check_grid(size, limits)
        people = {p["participant_id"]: p for p in await uow.repo.participants(activity_id)}
        accepted = await uow.repo.accepted(activity_id)
        schedulable, gone = [], []
        for m in accepted:
            (schedulable if m.requester_id in people and m.target_id in people else gone).append(m)
        periods = sum(len(p["unavailable"]) for p in people.values())
        bounds.check_work(size, len(people), len(schedulable), periods, limits)
    except slots.InvalidMeetingSettings as e:
        raise RuleBroken(None, f"Activity {activity_id} cannot be scheduled: {e}", kind="invalid-meeting-settings",
                         title="Meeting settings unusable") from None
    except bounds.ScheduleTooLarge as e:
        raise RuleBroken(None, e.detail, kind="schedule-too-large", title="Schedule too large",
                         rule=e.rule, limit=e.limit, value=e.value) from None
    version = await uow.repo.next_schedule_version(activity_id)
    # Building the grid and the solver's matrices is CPU work in proportion to the limits above, and the
    # search runs for up to time_limit: both off the event loop, so health checks and consumers keep running.
    grid, previous, result = await asyncio.to_thread(
        _plan, activity, people, schedulable, time_limit=time_limit, seed=version,
    )
    by_id = {str(m.meeting_id): m for m in accepted}
    for mid, place in result.placements.items():
        slot = grid[place.slot]
        m = by_id[mid]
        await uow.repo.set_placement(m.meeting_id, version, place.slot, place.table, slot.starts_at, slot.ends_at)
        await uow.publish(MeetingScheduled(
            **_event_ids(m), schedule_version=version, starts_at=slot.starts_at, ends_at=slot.ends_at,
            table=place.table, online=activity["online"],
        ))
    gone_ids = {m.meeting_id for m in gone}
    unscheduled = []
    for m in schedulable + gone:
        mid = str(m.meeting_id)
        if mid in result.placements:
            continue
        reason = ("a participant left the activity" if m.meeting_id in gone_ids
                  else "no common free slot" if mid not in previous else "its slot became infeasible")
        await uow.repo.set_placement(m.meeting_id, version, None, None, None, None)
        await uow.publish(MeetingUnscheduled(**_event_ids(m), schedule_version=version, reason=reason))
        unscheduled.append({"meeting_id": mid, "reason": reason})
    moved = sum(
        1 for m in schedulable
        if m.starts_at is not None and str(m.meeting_id) in result.placements
        and grid[result.placements[str(m.meeting_id)].slot].starts_at != m.starts_at
    )
    return {
        "version": version, "scheduled": result.scheduled, "unscheduled": len(unscheduled),
        "upper_bound": result.upper_bound, "idle_gaps": result.idle_gaps, "moved": moved,
        "unscheduled_meetings": unscheduled, "time_limit_s": time_limit,
    }


def _plan(activity: dict, people: dict, schedulable: list[Meeting], *, time_limit: float, seed: int):
    ms = activity["meetings"]
    grid = slots.grid(activity["starts_on"], activity["ends_on"], ms["day_start"], ms["day_end"],
                      ms["slot_minutes"], ms["timezone"])
    # Published placements are what people were told: keep them (the scheduler moves one only when it
    # became infeasible, e.g. a new unavailable period or fewer tables).
    # A placement counts only while its slot still means the same time (the grid may have changed).
    previous = {
        str(m.meeting_id): (m.slot, m.table) for m in schedulable
        if m.slot is not None and m.slot < len(grid) and grid[m.slot].starts_at == m.starts_at
    }
    problem = scheduler.Problem(
        slots=len(grid),
        tables=None if activity["online"] else ms["tables"],
        meetings=tuple(
            scheduler.Meeting(str(m.meeting_id), m.requester_id, m.target_id, mutual=m.mutual,
                              locked=str(m.meeting_id) in previous)
            for m in schedulable
        ),
        unavailable={pid: slots.unavailable_slots(grid, p["unavailable"], ms["timezone"]) for pid, p in people.items()},
        slot_days=tuple(s.day for s in grid),
        previous=previous,
    )
    return grid, previous, scheduler.solve(problem, time_limit=time_limit, seed=seed)


# --- agenda --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agenda:
    activity: dict
    participant_id: str | None
    meetings: list[Meeting]


async def agenda(uow: Work, activity_id: str, participant_id: str | None) -> Agenda:
    """One participant's scheduled meetings (whoever sees that participant), or the whole activity's (the
    host cluster and the programme)."""
    activity = await uow.repo.activity(activity_id)
    if activity is None or not activity["meetings"]:
        raise NotFound(f"No activity with meetings {activity_id}")
    if participant_id is not None:
        await visible_participant(uow, participant_id)
    elif uow.caller.role == "partner" and uow.caller.cluster_id != activity["host_cluster_id"]:
        raise Forbidden("Partners read one participant's agenda: pass participant_id")
    return Agenda(activity, participant_id, await uow.repo.agenda(activity_id, participant_id))


# --- feedback ------------------------------------------------------------------------------------


async def rate(uow: Work, meeting_id: uuid.UUID, participant_id: str, rating: str, *,
               now: datetime | None = None) -> Rated:
    """A party rates a meeting it attended (its cluster or the programme speaks for it); the first rating
    of each party stands."""
    meeting = await uow.repo.meeting(meeting_id, lock=True)
    if meeting is None or participant_id not in meeting.parties or not await _sees(uow, participant_id):
        raise NotFound.of("meeting", meeting_id)
    if meeting.status != "accepted" or meeting.starts_at is None:
        raise Conflict(f"Meeting {meeting_id} was never scheduled", kind="not-scheduled")
    if meeting.starts_at > (now or datetime.now(UTC)):
        raise Conflict(f"Meeting {meeting_id} has not started yet; rate it afterwards", kind="not-yet-held")
    if await uow.repo.record_feedback(meeting_id, participant_id, rating):
        await uow.publish(MeetingRated(**_event_ids(meeting), rated_by=participant_id, rating=rating))
    ratings = await uow.repo.feedback(meeting_id)
    held = bool(ratings) and all(r in HELD_RATINGS for r in ratings.values())
    if held and await uow.repo.mark_held(meeting_id):
        await uow.publish(MeetingHeld(**_event_ids(meeting)))
    return Rated(meeting_id, ratings, held or meeting.held)
