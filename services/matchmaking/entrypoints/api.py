from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.matchmaking import handlers
from services.matchmaking.adapters import activities, meetings, profiles
from services.matchmaking.domain import ical
from services.matchmaking.entrypoints import schemas as out
from shared.auth import CallerDep, CoordinatorDep, WriterDep
from shared.events.catalogue import MeetingRating
from shared.openapi import ok, problems
from shared.problems import Problem
from shared.service import pool_of

router = APIRouter(prefix="/v1", tags=["matchmaking"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class MeetingRequestIn(Strict):
    activity_id: str = Field(min_length=1, max_length=64)
    requester_id: str = Field(min_length=1, max_length=64)
    target_id: str = Field(min_length=1, max_length=64)
    message: str | None = Field(None, max_length=2000)


class FeedbackIn(Strict):
    participant_id: str = Field(min_length=1, max_length=64)
    rating: MeetingRating


def _settings(request: Request):
    return request.app.state.service.settings


@router.get("/profiles/{participant_id}", responses=ok(out.Profile))
async def get_profile(participant_id: uuid.UUID, request: Request, who: CallerDep):
    """A participant's business profile: organisation, country, sectors, keywords, offers and requests, never
    contact data (matchmaking holds none). A partner reads its own cluster's profiles, and a counterpart's
    only while one of its own participants takes part in the same activity: that is the pool suggestions
    and meeting requests come from, and deciding whom to meet needs exactly this profile. Anything else is
    another cluster's directory and answers 404."""
    async with pool_of(request).acquire() as conn:
        row = await profiles.get(conn, participant_id)
        if row is not None and not who.can_see(row["cluster_id"]) and not await profiles.meets_cluster(
                conn, str(participant_id), who.cluster_id):
            row = None
    if row is None:
        raise Problem(404, f"No profile for participant {participant_id}", kind="not-found")
    out = dict(row)
    out.update(
        participant_id=str(row["participant_id"]), country=row["country"].strip(),
        offers=json.loads(row["offers"]), requests=json.loads(row["requests"]),
    )
    return out


async def _visible_participant(conn, who, participant_id: str) -> None:
    try:
        row = await profiles.get(conn, uuid.UUID(participant_id))
    except ValueError:
        row = None
    if row is None or not who.can_see(row["cluster_id"]):
        raise Problem(404, f"No participant {participant_id}", kind="not-found")


@router.get("/activities/{activity_id}/suggestions", responses=ok(list[out.Suggestion]))
async def get_suggestions(
    activity_id: str, request: Request, who: CallerDep,
    participant_id: Annotated[str, Query(min_length=1)], limit: Annotated[int, Query(ge=1, le=100)] = 10,
):
    async with pool_of(request).acquire() as conn:
        await _visible_participant(conn, who, participant_id)
        found = await handlers.suggest(conn, activity_id, participant_id, limit)
    return [{"participant_id": s.participant_id, "score": s.score, "reasons": list(s.reasons)} for s in found]


@router.post("/meeting-requests", status_code=201, responses=ok(out.MeetingRequest, 201, 200) | problems(409))
async def post_meeting_request(body: MeetingRequestIn, request: Request, response: Response, who: WriterDep):
    async with pool_of(request).acquire() as conn, conn.transaction():
        status, view = await handlers.request_meeting(
            conn, who, _settings(request), body.activity_id, body.requester_id, body.target_id, body.message,
        )
    response.status_code = status
    response.headers["Location"] = f"/v1/meeting-requests/{view['id']}"
    return view


@router.get("/meeting-requests/{meeting_id}", responses=ok(out.MeetingRequest))
async def get_meeting_request(meeting_id: uuid.UUID, request: Request, who: CallerDep):
    async with pool_of(request).acquire() as conn:
        row = await meetings.get(conn, meeting_id)
        if row is None:
            raise Problem(404, f"No meeting request {meeting_id}", kind="not-found")
        clusters = [await profiles.get(conn, row[k]) for k in ("requester_id", "target_id")]
    if not any(c is not None and who.can_see(c["cluster_id"]) for c in clusters):
        raise Problem(404, f"No meeting request {meeting_id}", kind="not-found")
    return handlers.meeting_view(row)


async def _answer(meeting_id: uuid.UUID, request: Request, who, accept: bool):
    async with pool_of(request).acquire() as conn, conn.transaction():
        return await handlers.answer(conn, who, meeting_id, accept)


@router.post("/meeting-requests/{meeting_id}/accept", responses=ok(out.MeetingRequest) | problems(409))
async def accept_meeting_request(meeting_id: uuid.UUID, request: Request, who: WriterDep):
    return await _answer(meeting_id, request, who, True)


@router.post("/meeting-requests/{meeting_id}/decline", responses=ok(out.MeetingRequest) | problems(409))
async def decline_meeting_request(meeting_id: uuid.UUID, request: Request, who: WriterDep):
    return await _answer(meeting_id, request, who, False)


@router.post("/activities/{activity_id}/schedule", responses=ok(out.ScheduleRun) | problems(409))
async def schedule(
    activity_id: str, request: Request, who: CoordinatorDep,
    time_limit_s: Annotated[float | None, Query(gt=0, allow_inf_nan=False, description=(
        "Search budget of this run in seconds; at most CXC_MATCHMAKING_SCHEDULE_TIME_LIMIT_S, which also "
        "applies when this is larger or absent"))] = None,
):
    """Place the activity's accepted meetings in slots and tables. A run whose span, slots or size exceeds
    the configured limits is refused with 422 `schedule-too-large` (its `rule`, `limit` and `value` say
    which), and settings no grid can be built from with 422 `invalid-meeting-settings`."""
    async with pool_of(request).acquire() as conn, conn.transaction():
        return await handlers.run_schedule(conn, activity_id, _settings(request), time_limit_s)


@router.get("/activities/{activity_id}/agenda", responses=ok(out.Agenda, also={
    "text/calendar": {"schema": {"type": "string", "description": "iCalendar (RFC 5545), with Accept: text/calendar"}}
}) | problems(403))
async def agenda(activity_id: str, request: Request, who: CallerDep, participant_id: str | None = None):
    async with pool_of(request).acquire() as conn:
        activity = await activities.get(conn, activity_id)
        if activity is None or not activity["meetings"]:
            raise Problem(404, f"No activity with meetings {activity_id}", kind="not-found")
        if participant_id is not None:
            await _visible_participant(conn, who, participant_id)
        elif who.role == "partner" and who.cluster_id != activity["host_cluster_id"]:
            raise Problem(403, "Partners read one participant's agenda: pass participant_id", kind="forbidden")
        rows = await meetings.agenda(conn, activity_id, participant_id)
    tz = ZoneInfo(activity["meetings"]["timezone"])
    items = [
        {
            "meeting_id": str(r["meeting_id"]), "requester_id": r["requester_id"], "target_id": r["target_id"],
            "with": (r["target_id"] if r["requester_id"] == participant_id else r["requester_id"])
            if participant_id else None,
            "starts_at": r["starts_at"].astimezone(tz).isoformat(), "ends_at": r["ends_at"].astimezone(tz).isoformat(),
            "table": r["table_no"], "online": activity["online"], "schedule_version": r["schedule_version"],
        }
        for r in rows
    ]
    if "text/calendar" in request.headers.get("accept", ""):
        body = ical.calendar(activity, items, participant_id, now=datetime.now(UTC))
        return Response(body, media_type="text/calendar; charset=utf-8")
    return {
        "activity_id": activity_id, "title": activity["title"], "timezone": str(tz),
        "participant_id": participant_id, "meetings": items,
    }


@router.post("/meetings/{meeting_id}/feedback", responses=ok(out.Feedback) | problems(409))
async def feedback(meeting_id: uuid.UUID, body: FeedbackIn, request: Request, who: WriterDep):
    async with pool_of(request).acquire() as conn, conn.transaction():
        return await handlers.rate(conn, who, meeting_id, body.participant_id, body.rating)


