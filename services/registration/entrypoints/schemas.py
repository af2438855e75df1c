"""The response bodies of registration's API, as the OpenAPI document declares them.

They describe the JSON the views build (views.participant_json, activity_json, exchange_json,
admin.cluster_json, key_json); routes declare them with ``responses=ok(...)`` (shared/openapi.py), so the
bodies themselves are unchanged. tests/integration/test_openapi_contract.py checks real answers against them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import NotRequired, TypedDict

from services.registration.domain.programme import Role
from shared.events.catalogue import ActivityKind, ExchangeKind, OfferType, Outcome, ParticipantKind
from shared.openapi import DateTime, Day

Language = Literal["en", "de", "fr", "pl", "lt", "bg", "es"]


class Cluster(TypedDict):
    id: str
    name: str
    country: Annotated[str, Field(description="ISO 3166-1 alpha-2")]
    city: str | None


class Offer(TypedDict):
    type: OfferType
    text: str


class Consent(TypedDict):
    data_processing: Literal[True]
    marketing: bool


class Contact(TypedDict):
    name: str
    email: str
    phone: str | None
    language: Language


class Participant(TypedDict):
    """A participant as its own cluster, coordinators and ops see it; ``contact`` only while it has one."""

    id: str
    cluster_id: str
    external_ref: str | None
    status: str
    kind: ParticipantKind
    name: Annotated[str, Field(description="Organisation name")]
    country: str
    city: str | None
    employees: int | None
    website: str | None
    sectors: Annotated[list[str], Field(description="NACE Rev. 2 codes")]
    keywords: list[str]
    offers: list[Offer]
    requests: list[Offer]
    consent: Consent
    created_at: DateTime
    contact: NotRequired[Contact]


class ParticipantPage(TypedDict):
    items: list[Participant]
    next_cursor: Annotated[str | None, Field(description="Pass back as cursor for the next page; null on the last")]


class ItemProblem(TypedDict, total=False):
    """Why one item of a batch failed: a problem without type, status and instance (the item has a status)."""

    title: str
    detail: str
    errors: list[dict[str, Any]]


class BatchItem(TypedDict):
    index: Annotated[int, Field(description="Position of the item in the request's items")]
    status: Annotated[int, Field(description="201 created, 200 known external_ref, else the item's problem")]
    id: NotRequired[str]
    external_ref: NotRequired[str | None]
    problem: NotRequired[ItemProblem]


class BatchResult(TypedDict):
    created: int
    existing: int
    failed: int
    results: list[BatchItem]


class Erasure(TypedDict):
    id: str
    status: Literal["erased"]


class MeetingSettings(TypedDict):
    day_start: str
    day_end: str
    slot_minutes: int
    tables: int
    timezone: str


class Activity(TypedDict):
    id: str
    kind: ActivityKind
    title: str
    host_cluster_id: str
    city: str | None
    country: str
    starts_on: Day
    ends_on: Day
    online: bool
    capacity: int | None
    meetings: MeetingSettings | None
    participants: NotRequired[Annotated[int, Field(description="How many joined (single activity only)")]]


class Joined(TypedDict):
    activity_id: str
    participant_id: str
    unavailable: Annotated[list[list[DateTime]], Field(description="[start, end] pairs")]


class Completion(TypedDict):
    completed_on: Day
    working_days: int
    meetings_held: int
    satisfaction: int
    outcomes: list[Outcome]
    testimonial: str | None


class Exchange(TypedDict):
    id: str
    participant_id: str
    sending_cluster_id: str
    host_cluster_id: str
    activity_id: str | None
    kind: ExchangeKind
    start_date: Day
    end_date: Day
    working_days: int
    goals: str
    status: Literal["applied", "approved", "cancelled", "completed"]
    lump_sum_eur: int | None
    distance_km: float | None
    approved_at: DateTime | None
    cancelled_at: DateTime | None
    cancel_reason: str | None
    completion: NotRequired[Completion]


class LumpSum(TypedDict):
    cap_eur: Annotated[int, Field(description="The host country's cap")]
    halved: bool
    reasons: Annotated[list[str], Field(description="Why it was halved")]


class ApprovedExchange(Exchange):
    lump_sum: LumpSum


class Key(TypedDict):
    """An API key without its secret."""

    id: str
    cluster_id: str
    role: Role
    prefix: Annotated[str, Field(description="First characters of the key, to recognise it")]
    label: str | None
    created_at: DateTime
    revoked_at: DateTime | None


class IssuedKey(Key):
    key: Annotated[str, Field(description="The secret: shown in this response only")]
    replaces: NotRequired[Annotated[str, Field(description="The key revoked by this rotation")]]
