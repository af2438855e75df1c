from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.matchmaking import handlers
from services.matchmaking.adapters.repository import Repository
from services.matchmaking.domain import ical
from services.matchmaking.domain.meetings import Meeting
from services.matchmaking.entrypoints import schemas as out
from shared.auth import CallerDep, CoordinatorDep, WriterDep
from shared.events.catalogue import MeetingRating
from shared.openapi import ok, problems
from shared.service import pool_of
from shared.unit_of_work import unit_of_work

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


def _work(request: Request, who):
    """The unit of work of one request: its transaction, the outbox and the caller (handlers.Work)."""
    return unit_of_work(pool_of(request), who, Repository, source=handlers.SOURCE)


# --- views: what the handlers' domain values look like over HTTP ---------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def meeting_view(m: Meeting) -> dict:
    return {
        "id": str(m.meeting_id), "activity_id": m.activity_id, "requester_id": m.requester_id,
        "target_id": m.target_id, "message": m.message, "status": m.status, "mutual": m.mutual,
        "expires_at": m.expires_at.isoformat(), "created_at": m.created_at.isoformat(),
        "schedule_version": m.schedule_version, "starts_at": _iso(m.starts_at), "ends_at": _iso(m.ends_at),
        "table": m.table, "held": m.held,
    }


def profile_view(profile: dict) -> dict:
    out = dict(profile)
    out.update(
        participant_id=str(profile["participant_id"]), country=profile["country"].strip(),
        offers=json.loads(profile["offers"]), requests=json.loads(profile["requests"]),
    )
    return out


def agenda_items(found: handlers.Agenda, tz: ZoneInfo) -> list[dict]:
    pid = found.participant_id
    return [
        {
            "meeting_id": str(m.meeting_id), "requester_id": m.requester_id, "target_id": m.target_id,
            "with": m.other(pid) if pid else None,
            "starts_at": m.starts_at.astimezone(tz).isoformat(), "ends_at": m.ends_at.astimezone(tz).isoformat(),
            "table": m.table, "online": found.activity["online"], "schedule_version": m.schedule_version,
        }
        for m in found.meetings
    ]


# --- routes --------------------------------------------------------------------------------------


@router.get("/profiles/{participant_id}", responses=ok(out.Profile))
async def get_profile(participant_id: uuid.UUID, request: Request, who: CallerDep):
    """A participant's business profile: organisation, country, sectors, keywords, offers and requests, never
    contact data (matchmaking holds none). A partner reads its own cluster's profiles, and a counterpart's
    only while one of its own participants takes part in the same activity: that is the pool suggestions
    and meeting requests come from, and deciding whom to meet needs exactly this profile. Anything else is
    another cluster's directory and answers 404."""
    async with _work(request, who) as uow:
        return profile_view(await handlers.visible_profile(uow, participant_id))


@router.get("/activities/{activity_id}/suggestions", responses=ok(list[out.Suggestion]))
async def get_suggestions(
    activity_id: str, request: Request, who: CallerDep,
    participant_id: Annotated[str, Query(min_length=1)], limit: Annotated[int, Query(ge=1, le=100)] = 10,
):
    async with _work(request, who) as uow:
        found = await handlers.suggestions_for(uow, activity_id, participant_id, limit)
    return [{"participant_id": s.participant_id, "score": s.score, "reasons": list(s.reasons)} for s in found]


@router.post("/meeting-requests", status_code=201, responses=ok(out.MeetingRequest, 201, 200) | problems(409))
async def post_meeting_request(body: MeetingRequestIn, request: Request, response: Response, who: WriterDep):
    command = handlers.RequestMeeting(body.activity_id, body.requester_id, body.target_id, body.message)
    async with _work(request, who) as uow:
        outcome = await handlers.request_meeting(uow, command, _settings(request))
    response.status_code = 201 if outcome.created else 200
    response.headers["Location"] = f"/v1/meeting-requests/{outcome.meeting.meeting_id}"
    return meeting_view(outcome.meeting)


@router.get("/meeting-requests/{meeting_id}", responses=ok(out.MeetingRequest))
async def get_meeting_request(meeting_id: uuid.UUID, request: Request, who: CallerDep):
    async with _work(request, who) as uow:
        return meeting_view(await handlers.meeting_for(uow, meeting_id))


async def _answer(meeting_id: uuid.UUID, request: Request, who, accept: bool):
    async with _work(request, who) as uow:
        return meeting_view(await handlers.answer(uow, meeting_id, accept))


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
    async with _work(request, who) as uow:
        return await handlers.run_schedule(uow, activity_id, _settings(request), time_limit_s)


@router.get("/activities/{activity_id}/agenda", responses=ok(out.Agenda, also={
    "text/calendar": {"schema": {"type": "string", "description": "iCalendar (RFC 5545), with Accept: text/calendar"}}
}) | problems(403))
async def agenda(activity_id: str, request: Request, who: CallerDep, participant_id: str | None = None):
    async with _work(request, who) as uow:
        found = await handlers.agenda(uow, activity_id, participant_id)
    activity = found.activity
    tz = ZoneInfo(activity["meetings"]["timezone"])
    items = agenda_items(found, tz)
    if "text/calendar" in request.headers.get("accept", ""):
        body = ical.calendar(activity, items, participant_id, now=datetime.now(UTC),
                             organizer=_settings(request).calendar_organizer)
        return Response(body, media_type="text/calendar; charset=utf-8")
    return {
        "activity_id": activity_id, "title": activity["title"], "timezone": str(tz),
        "participant_id": participant_id, "meetings": items,
    }


@router.post("/meetings/{meeting_id}/feedback", responses=ok(out.Feedback) | problems(409))
async def feedback(meeting_id: uuid.UUID, body: FeedbackIn, request: Request, who: WriterDep):
    async with _work(request, who) as uow:
        rated = await handlers.rate(uow, meeting_id, body.participant_id, body.rating)
    return {"meeting_id": str(rated.meeting_id), "ratings": rated.ratings, "held": rated.held}
