"""What matchmaking does on an event or a command: state change and its events, in one transaction."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.matchmaking.adapters import activities, meetings, profiles
from services.matchmaking.domain import bounds, scheduler, slots, suggestions
from shared import privacy
from shared.auth import Caller
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
from shared.problems import Problem

SOURCE = "/cxc/matchmaking"
SUGGESTIONS_PUBLISHED_ON_JOIN = 5


def not_found(what: str, ident: Any) -> Problem:
    return Problem(404, f"No {what} {ident}", kind="not-found")


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


# --- suggestions ---------------------------------------------------------------------------------


def _candidate(row: dict) -> suggestions.Candidate:
    return suggestions.Candidate(
        participant_id=str(row["participant_id"]), cluster_id=row["cluster_id"], name=row["name"],
        country=row["country"], sectors=tuple(row["sectors"]), keywords=tuple(row["keywords"]),
        offers=tuple(suggestions.Need(o["type"], o["text"]) for o in row["offers"]),
        requests=tuple(suggestions.Need(r["type"], r["text"]) for r in row["requests"]),
    )


async def suggest(conn: asyncpg.Connection, activity_id: str, participant_id: str, limit: int,
                  pool: list[suggestions.Candidate] | None = None) -> list[suggestions.Suggestion]:
    activity = await activities.get(conn, activity_id)
    if activity is None:
        raise not_found("activity", activity_id)
    if pool is None:
        pool = [_candidate(r) for r in await activities.participants(conn, activity_id)]
    me = next((c for c in pool if c.participant_id == participant_id), None)
    if me is None:
        raise not_found(f"participant of activity {activity_id}:", participant_id)
    return suggestions.suggest(
        me, pool, transnational=activity["kind"] in suggestions.TRANSNATIONAL_KINDS,
        declined=await meetings.declined_partners(conn, activity_id, participant_id), limit=limit,
    )


async def publish_suggestions(conn: asyncpg.Connection, activity_id: str, participant_id: str) -> None:
    """A newcomer and its best matches hear about each other as match.suggested events (the score is
    symmetric, so the newcomer's top list is also where it ranks high for the others)."""
    if await profiles.get(conn, participant_id) is None:
        return  # profile not seen yet (other topic); suggestions are still served on request
    pool = [_candidate(r) for r in await activities.participants(conn, activity_id)]
    for s in await suggest(conn, activity_id, participant_id, SUGGESTIONS_PUBLISHED_ON_JOIN, pool):
        await outbox.record(conn, MatchSuggested(
            activity_id=activity_id, participant_id=participant_id, suggested_id=s.participant_id,
            score=s.score, reasons=s.reasons,
        ), source=SOURCE)
        theirs = await suggest(conn, activity_id, s.participant_id, len(pool), pool)
        back = next((t for t in theirs if t.participant_id == participant_id), None)
        if back is not None:
            await outbox.record(conn, MatchSuggested(
                activity_id=activity_id, participant_id=s.participant_id, suggested_id=participant_id,
                score=back.score, reasons=back.reasons,
            ), source=SOURCE)


# --- meeting requests ----------------------------------------------------------------------------


def meeting_view(row: asyncpg.Record) -> dict:
    return {
        "id": str(row["meeting_id"]), "activity_id": row["activity_id"], "requester_id": row["requester_id"],
        "target_id": row["target_id"], "message": row["message"], "status": row["status"], "mutual": row["mutual"],
        "expires_at": row["expires_at"].isoformat(), "created_at": row["created_at"].isoformat(),
        "schedule_version": row["schedule_version"],
        "starts_at": row["starts_at"].isoformat() if row["starts_at"] else None,
        "ends_at": row["ends_at"].isoformat() if row["ends_at"] else None,
        "table": row["table_no"], "held": row["held"],
    }


def _event_ids(row: asyncpg.Record) -> dict:
    return dict(meeting_id=str(row["meeting_id"]), activity_id=row["activity_id"],
                requester_id=row["requester_id"], target_id=row["target_id"])


async def _participant_cluster(conn: asyncpg.Connection, participant_id: str) -> str | None:
    row = await profiles.get(conn, participant_id)
    return row["cluster_id"] if row else None


async def request_meeting(conn: asyncpg.Connection, caller: Caller, settings, activity_id: str,
                          requester_id: str, target_id: str, message: str | None) -> tuple[int, dict]:
    requester_cluster = await _participant_cluster(conn, requester_id)
    if requester_cluster is None or not caller.can_see(requester_cluster):
        raise not_found("participant", requester_id)
    activity = await activities.get(conn, activity_id)
    if activity is None:
        raise not_found("activity", activity_id)
    if requester_id == target_id:
        raise _rule("target_id", "A participant cannot request a meeting with itself")
    for field, pid in (("requester_id", requester_id), ("target_id", target_id)):
        if not await activities.is_participant(conn, activity_id, pid):
            raise _rule(field, f"Participant {pid} has not joined activity {activity_id}")
    existing = await meetings.open_between(conn, activity_id, requester_id, target_id)
    if existing is not None:
        if existing["status"] == "pending" and existing["target_id"] == requester_id:
            # Both sides asked: the pair's meeting is accepted and counts as mutual for the scheduler.
            row = await meetings.decide(conn, existing["meeting_id"], "accepted", mutual=True)
            await outbox.record(conn, MeetingAccepted(**_event_ids(row)), source=SOURCE)
            return 200, meeting_view(row)
        raise Problem(409, f"An open meeting request between {requester_id} and {target_id} exists: "
                           f"{existing['meeting_id']}", kind="duplicate-request")
    if await meetings.pending_count(conn, requester_id) >= settings.max_pending_requests:
        raise Problem(409, f"Participant {requester_id} already has {settings.max_pending_requests} pending "
                           "requests; wait for answers or let some expire", kind="too-many-pending")
    expires_at = datetime.now(UTC) + timedelta(hours=settings.request_ttl_hours)
    try:
        async with conn.transaction():  # a savepoint: losing a race for the pair is a 409, not a 500
            row = await meetings.create(conn, activity_id, requester_id, target_id, message, expires_at)
    except asyncpg.UniqueViolationError:
        raise Problem(409, f"An open meeting request between {requester_id} and {target_id} exists",
                      kind="duplicate-request") from None
    await outbox.record(conn, MeetingRequested(**_event_ids(row), expires_at=expires_at), source=SOURCE)
    return 201, meeting_view(row)


def _rule(field: str, message: str) -> Problem:
    return Problem(422, message, kind="rule-violation", title="Matchmaking rule violated",
                   errors=[{"field": field, "message": message, "type": "rule"}])


async def answer(conn: asyncpg.Connection, caller: Caller, meeting_id: uuid.UUID, accept: bool) -> dict:
    row = await meetings.get(conn, meeting_id, lock=True)
    if row is None:
        raise not_found("meeting request", meeting_id)
    target_cluster = await _participant_cluster(conn, row["target_id"])
    requester_cluster = await _participant_cluster(conn, row["requester_id"])
    if not any(c is not None and caller.can_see(c) for c in (target_cluster, requester_cluster)):
        raise not_found("meeting request", meeting_id)
    if target_cluster is None or not caller.can_see(target_cluster):
        raise Problem(403, "Only the target's cluster (or a coordinator) can answer a meeting request",
                      kind="forbidden")
    wanted = "accepted" if accept else "declined"
    if row["status"] == wanted:
        return meeting_view(row)  # a retried answer changes nothing
    if row["status"] != "pending":
        raise Problem(409, f"Meeting request {meeting_id} is {row['status']}", kind="not-pending")
    row = await meetings.decide(conn, meeting_id, wanted)
    event = MeetingAccepted if accept else MeetingDeclined
    await outbox.record(conn, event(**_event_ids(row)), source=SOURCE)
    return meeting_view(row)


async def expire_due(pool: asyncpg.Pool, now: datetime | None = None, batch: int = 200) -> int:
    """Expire pending requests past their time, each with its meeting.expired event. Returns how many."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await meetings.due_for_expiry(conn, now or datetime.now(UTC), batch)
        for row in rows:
            await meetings.decide(conn, row["meeting_id"], "expired")
            await outbox.record(conn, MeetingExpired(**_event_ids(row)), source=SOURCE)
    return len(rows)


# --- scheduling ----------------------------------------------------------------------------------


async def run_schedule(conn: asyncpg.Connection, activity_id: str, settings,
                       time_limit: float | None = None) -> dict:
    """Schedule the activity's accepted meetings. ``time_limit`` may shorten the configured search budget,
    never lengthen it; a run larger than the configured limits is refused before anything is built."""
    cap = settings.schedule_time_limit_s
    time_limit = cap if time_limit is None else min(time_limit, cap)
    activity = await activities.get(conn, activity_id, lock=True)
    if activity is None:
        raise not_found("activity", activity_id)
    ms = activity["meetings"]
    if not ms:
        raise Problem(409, f"Activity {activity_id} has no meeting settings (day_start, slot_minutes, ...)",
                      kind="no-meeting-settings")
    limits = settings.schedule_limits
    try:
        size = slots.size(activity["starts_on"], activity["ends_on"], ms)
        bounds.check_grid(size, limits)
        people = {p["participant_id"]: p for p in await activities.participants(conn, activity_id)}
        rows = await meetings.accepted(conn, activity_id)
        schedulable, gone = [], []
        for r in rows:
            (schedulable if r["requester_id"] in people and r["target_id"] in people else gone).append(r)
        periods = sum(len(p["unavailable"]) for p in people.values())
        bounds.check_work(size, len(people), len(schedulable), periods, limits)
    except slots.InvalidMeetingSettings as e:
        raise Problem(422, f"Activity {activity_id} cannot be scheduled: {e}", kind="invalid-meeting-settings",
                      title="Meeting settings unusable") from None
    except bounds.ScheduleTooLarge as e:
        raise Problem(422, e.detail, kind="schedule-too-large", title="Schedule too large",
                      rule=e.rule, limit=e.limit, value=e.value) from None
    version = await meetings.schedule_version(conn, activity_id)
    # Building the grid and the solver's matrices is CPU work in proportion to the limits above, and the
    # search runs for up to time_limit: both off the event loop, so health checks and consumers keep running.
    grid, previous, result = await asyncio.to_thread(
        _plan, activity, people, schedulable, time_limit=time_limit, seed=version,
    )
    by_id = {str(r["meeting_id"]): r for r in rows}
    for mid, place in result.placements.items():
        slot = grid[place.slot]
        r = by_id[mid]
        await meetings.set_placement(conn, r["meeting_id"], version, place.slot, place.table, slot.starts_at, slot.ends_at)
        await outbox.record(conn, MeetingScheduled(
            **_event_ids(r), schedule_version=version, starts_at=slot.starts_at, ends_at=slot.ends_at,
            table=place.table, online=activity["online"],
        ), source=SOURCE)
    gone_ids = {r["meeting_id"] for r in gone}
    unscheduled = []
    for r in schedulable + gone:
        mid = str(r["meeting_id"])
        if mid in result.placements:
            continue
        reason = ("a participant left the activity" if r["meeting_id"] in gone_ids
                  else "no common free slot" if mid not in previous else "its slot became infeasible")
        await meetings.set_placement(conn, r["meeting_id"], version, None, None, None, None)
        await outbox.record(conn, MeetingUnscheduled(**_event_ids(r), schedule_version=version, reason=reason),
                            source=SOURCE)
        unscheduled.append({"meeting_id": mid, "reason": reason})
    moved = sum(
        1 for r in schedulable
        if r["starts_at"] is not None and str(r["meeting_id"]) in result.placements
        and grid[result.placements[str(r["meeting_id"])].slot].starts_at != r["starts_at"]
    )
    return {
        "version": version, "scheduled": result.scheduled, "unscheduled": len(unscheduled),
        "upper_bound": result.upper_bound, "idle_gaps": result.idle_gaps, "moved": moved,
        "unscheduled_meetings": unscheduled, "time_limit_s": time_limit,
    }


def _plan(activity: dict, people: dict, schedulable: list, *, time_limit: float, seed: int):
    ms = activity["meetings"]
    grid = slots.grid(activity["starts_on"], activity["ends_on"], ms["day_start"], ms["day_end"],
                      ms["slot_minutes"], ms["timezone"])
    # Published placements are what people were told: keep them (the scheduler moves one only when it
    # became infeasible, e.g. a new unavailable period or fewer tables).
    # A placement counts only while its slot still means the same time (the grid may have changed).
    previous = {
        str(r["meeting_id"]): (r["slot"], r["table_no"]) for r in schedulable
        if r["slot"] is not None and r["slot"] < len(grid) and grid[r["slot"]].starts_at == r["starts_at"]
    }
    problem = scheduler.Problem(
        slots=len(grid),
        tables=None if activity["online"] else ms["tables"],
        meetings=tuple(
            scheduler.Meeting(str(r["meeting_id"]), r["requester_id"], r["target_id"], mutual=r["mutual"],
                              locked=str(r["meeting_id"]) in previous)
            for r in schedulable
        ),
        unavailable={pid: slots.unavailable_slots(grid, p["unavailable"], ms["timezone"]) for pid, p in people.items()},
        slot_days=tuple(s.day for s in grid),
        previous=previous,
    )
    return grid, previous, scheduler.solve(problem, time_limit=time_limit, seed=seed)


# --- feedback ------------------------------------------------------------------------------------

# A meeting counts as held once someone says it happened and nobody says it did not.
HELD_RATINGS = frozenset({"insufficient_interest", "no_cooperation", "cooperation_possible"})


async def rate(conn: asyncpg.Connection, caller: Caller, meeting_id: uuid.UUID, participant_id: str, rating: str) -> dict:
    row = await meetings.get(conn, meeting_id, lock=True)
    if row is None:
        raise not_found("meeting", meeting_id)
    cluster = await _participant_cluster(conn, participant_id)
    if participant_id not in (row["requester_id"], row["target_id"]) or cluster is None or not caller.can_see(cluster):
        raise not_found("meeting", meeting_id)
    if row["status"] != "accepted" or row["starts_at"] is None:
        raise Problem(409, f"Meeting {meeting_id} was never scheduled", kind="not-scheduled")
    if row["starts_at"] > datetime.now(UTC):
        raise Problem(409, f"Meeting {meeting_id} has not started yet; rate it afterwards", kind="not-yet-held")
    if await meetings.record_feedback(conn, meeting_id, participant_id, rating):
        await outbox.record(conn, MeetingRated(**_event_ids(row), rated_by=participant_id, rating=rating),
                            source=SOURCE)
    ratings = await meetings.feedback(conn, meeting_id)
    held = bool(ratings) and all(r in HELD_RATINGS for r in ratings.values())
    if held and await meetings.mark_held(conn, meeting_id):
        await outbox.record(conn, MeetingHeld(**_event_ids(row)), source=SOURCE)
    return {"meeting_id": str(meeting_id), "ratings": ratings, "held": held or row["held"]}
