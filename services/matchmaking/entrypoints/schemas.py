"""The response bodies of matchmaking's API, as the OpenAPI document declares them (documentation only:
the views are unchanged; tests/integration/test_openapi_contract.py checks real answers against them)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import NotRequired, TypedDict

from shared.events.catalogue import MeetingRating, OfferType, ParticipantKind
from shared.openapi import DateTime


class Offer(TypedDict):
    type: OfferType
    text: str


class Profile(TypedDict):
    """A participant's business profile; never contact data."""

    participant_id: str
    cluster_id: str
    kind: ParticipantKind
    name: Annotated[str, Field(description="Organisation name")]
    country: str
    sectors: list[str]
    keywords: list[str]
    offers: list[Offer]
    requests: list[Offer]
    updated_at: DateTime


class Suggestion(TypedDict):
    participant_id: str
    score: float
    reasons: list[str]


class MeetingRequest(TypedDict):
    id: str
    activity_id: str
    requester_id: str
    target_id: str
    message: str | None
    status: Literal["pending", "accepted", "declined", "expired"]
    mutual: Annotated[bool, Field(description="Both sides asked for it")]
    expires_at: DateTime
    created_at: DateTime
    schedule_version: int | None
    starts_at: DateTime | None
    ends_at: DateTime | None
    table: int | None
    held: bool


class Unscheduled(TypedDict):
    meeting_id: str
    reason: str


class ScheduleRun(TypedDict):
    version: int
    scheduled: int
    unscheduled: int
    upper_bound: Annotated[int, Field(description="At most this many meetings could be placed")]
    idle_gaps: int
    moved: Annotated[int, Field(description="Meetings whose published time changed")]
    unscheduled_meetings: list[Unscheduled]
    time_limit_s: NotRequired[float]


# "with" is a Python keyword, hence the functional form.
AgendaItem = TypedDict("AgendaItem", {
    "meeting_id": str, "requester_id": str, "target_id": str,
    "with": Annotated[str | None, Field(description="The other side, when the agenda is one participant's")],
    "starts_at": DateTime, "ends_at": DateTime, "table": int | None, "online": bool, "schedule_version": int,
})


class Agenda(TypedDict):
    activity_id: str
    title: str
    timezone: str
    participant_id: str | None
    meetings: list[AgendaItem]


class Feedback(TypedDict):
    meeting_id: str
    ratings: Annotated[dict[str, MeetingRating], Field(description="By participant id")]
    held: bool
