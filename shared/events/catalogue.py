"""Every event the platform publishes, one pydantic model per (type, version).

Rules: a published (type, version) is never changed in place. A breaking change adds a new class with
``version = n + 1`` and registers an upcaster from n to n + 1 (see ``upcasters``), so consumers only ever
see the newest shape. Events carry no personal contact data (names of people, e-mail addresses, phone
numbers): those stay in the registration service, which is what makes GDPR erasure possible with an
append-only log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.privacy import Sealed

ParticipantKind = Literal["sme", "cluster_staff", "research", "large_enterprise", "public_body"]
ActivityKind = Literal["mission", "study_visit", "matchmaking_event", "learning_tandem", "webinar", "training"]
ExchangeKind = Literal["sme_exchange", "staff_exchange", "study_visit", "mission", "learning_tandem"]
OfferType = Literal["technology", "product", "service", "partnership", "investment", "research"]
Outcome = Literal["partnership_agreement", "joint_project", "new_customer", "knowledge_transfer", "none"]
MeetingRating = Literal["did_not_take_place", "insufficient_interest", "no_cooperation", "cooperation_possible"]


class EventData(BaseModel):
    """Payload of one event type at one version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ClassVar[str]
    version: ClassVar[int] = 1


CATALOGUE: dict[tuple[str, int], type[EventData]] = {}
LATEST: dict[str, int] = {}


def event(cls: type[EventData]) -> type[EventData]:
    key = (cls.type, cls.version)
    if key in CATALOGUE:
        raise ValueError(f"event {key} registered twice")
    CATALOGUE[key] = cls
    LATEST[cls.type] = max(LATEST.get(cls.type, 0), cls.version)
    return cls


def event_model(event_type: str, version: int | None = None) -> type[EventData]:
    """The model for ``event_type`` at ``version`` (default: the newest). KeyError if unknown."""
    return CATALOGUE[(event_type, version if version is not None else LATEST[event_type])]


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function turning the payload of ``from_version`` into ``from_version + 1``."""

    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def upcast(event_type: str, version: int, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Apply the chain of upcasters from ``version`` to the newest version of ``event_type``."""
    latest = LATEST[event_type]
    while version < latest:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise KeyError(f"no upcaster for {event_type} v{version}")
        data = step(data)
        version += 1
    return version, data


# --- shared value objects -------------------------------------------------------------------------


class OfferOrRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: OfferType
    text: str = Field(max_length=2000)


class Profile(BaseModel):
    """The non-personal part of a participant, as other services may know it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    cluster_id: str = Field(description="Sending (home) cluster", examples=["silicon-saxony"])
    kind: ParticipantKind
    name: str = Field(description="Organisation name", examples=["Score Digital"])
    country: str = Field(description="ISO 3166-1 alpha-2", examples=["PL"])
    city: str | None = None
    employees: int | None = None
    website: str | None = None
    sectors: tuple[str, ...] = Field(default=(), description="NACE Rev. 2 codes", examples=[["J62.01"]])
    keywords: tuple[str, ...] = ()
    offers: tuple[OfferOrRequest, ...] = ()
    requests: tuple[OfferOrRequest, ...] = ()
    marketing_consent: bool = False


# --- participant.* -------------------------------------------------------------------------------


@event
class ParticipantRegistered(EventData):
    type = "participant.registered"
    participant_id: str
    profile: Profile
    registered_at: datetime


@event
class ParticipantUpdated(EventData):
    type = "participant.updated"
    participant_id: str
    profile: Profile
    changed: tuple[str, ...] = Field(default=(), description="Names of the profile fields that changed")


@event
class ParticipantErased(EventData):
    """GDPR erasure: consumers delete every copy of the participant's contact data."""

    type = "participant.erased"
    participant_id: str
    cluster_id: str
    erased_at: datetime


# --- participant.* v2: personal fields sealed (crypto-shredding, see shared/privacy.py) ---------------
# What counts as personal: anything that can single out a natural person. A small firm's name and website
# often name its owner ("Anna Nowak Consulting", anna-nowak.eu); its town narrows a sole trader down to one
# person; keywords, offers and requests are free text a person typed and may name anyone. These are sealed.
# The classification that identifies no one (cluster, kind, country, size, NACE codes, consent flag) stays
# in clear: it is all reporting and the webhooks' cluster scoping need, and it survives erasure as counts.


class PublicProfile(BaseModel):
    """The part of a participant every consumer may read in clear and keep after erasure."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    cluster_id: str = Field(description="Sending (home) cluster", examples=["silicon-saxony"])
    kind: ParticipantKind
    country: str = Field(description="ISO 3166-1 alpha-2", examples=["PL"])
    employees: int | None = None
    sectors: tuple[str, ...] = Field(default=(), description="NACE Rev. 2 codes", examples=[["J62.01"]])
    marketing_consent: bool = False


class PersonalProfile(BaseModel):
    """The part of a participant that may identify a person: travels sealed, erased everywhere."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(description="Organisation name")
    city: str | None = None
    website: str | None = None
    keywords: tuple[str, ...] = ()
    offers: tuple[OfferOrRequest, ...] = ()
    requests: tuple[OfferOrRequest, ...] = ()


_PERSONAL_FIELDS = tuple(PersonalProfile.model_fields)


def split_profile(profile: Profile) -> tuple[PublicProfile, PersonalProfile]:
    data = profile.model_dump()
    return (PublicProfile(**{k: v for k, v in data.items() if k not in _PERSONAL_FIELDS}),
            PersonalProfile(**{k: data[k] for k in _PERSONAL_FIELDS}))


def join_profile(public: PublicProfile, personal: PersonalProfile) -> Profile:
    return Profile(**public.model_dump(), **personal.model_dump())


@event
class ParticipantRegisteredV2(EventData):
    type = "participant.registered"
    version = 2
    participant_id: str
    profile: PublicProfile
    personal: Sealed = Field(description="PersonalProfile sealed with the participant's data key")
    registered_at: datetime


@event
class ParticipantUpdatedV2(EventData):
    type = "participant.updated"
    version = 2
    participant_id: str
    profile: PublicProfile
    personal: Sealed = Field(description="PersonalProfile sealed with the participant's data key")
    changed: tuple[str, ...] = Field(default=(), description="Names of the profile fields that changed")


def _unsealed_v1_profile(data: dict[str, Any]) -> dict[str, Any]:
    """v1 carried the whole profile in clear. The upcast keeps it readable as a legacy 'none' seal (those
    published bytes cannot be shredded after the fact; tombstones stop them being applied after erasure)."""
    profile = dict(data["profile"])
    personal = {k: profile.pop(k) for k in _PERSONAL_FIELDS if k in profile}
    personal.setdefault("name", "")
    return {**data, "profile": profile, "personal": {"alg": "none", "kid": data["participant_id"], "plain": personal}}


upcaster("participant.registered", 1)(_unsealed_v1_profile)
upcaster("participant.updated", 1)(_unsealed_v1_profile)


# --- activity.* ----------------------------------------------------------------------------------


class MeetingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    day_start: str = Field(examples=["09:00"])
    day_end: str = Field(examples=["17:00"])
    slot_minutes: int
    tables: int
    timezone: str = Field(examples=["Europe/Berlin"])


@event
class ActivityCreated(EventData):
    type = "activity.created"
    activity_id: str
    kind: ActivityKind
    title: str
    host_cluster_id: str
    city: str | None = None
    country: str
    starts_on: date
    ends_on: date
    online: bool = False
    capacity: int | None = None
    meetings: MeetingSettings | None = None


@event
class ActivityUpdated(EventData):
    type = "activity.updated"
    activity_id: str
    title: str
    starts_on: date
    ends_on: date
    online: bool
    capacity: int | None = None
    meetings: MeetingSettings | None = None


@event
class ActivityParticipantJoined(EventData):
    type = "activity.participant_joined"
    activity_id: str
    participant_id: str
    unavailable: tuple[tuple[datetime, datetime], ...] = ()


@event
class ActivityParticipantLeft(EventData):
    type = "activity.participant_left"
    activity_id: str
    participant_id: str


# --- exchange.* ----------------------------------------------------------------------------------


@event
class ExchangeApplied(EventData):
    type = "exchange.applied"
    exchange_id: str
    participant_id: str
    participant_kind: ParticipantKind
    sending_cluster_id: str
    host_cluster_id: str
    activity_id: str | None = None
    kind: ExchangeKind
    start_date: date
    end_date: date
    working_days: int


@event
class ExchangeApproved(EventData):
    type = "exchange.approved"
    exchange_id: str
    participant_id: str
    sending_cluster_id: str
    host_cluster_id: str
    lump_sum_eur: int
    approved_at: datetime


@event
class ExchangeCancelled(EventData):
    type = "exchange.cancelled"
    exchange_id: str
    participant_id: str
    sending_cluster_id: str
    reason: str | None = None
    host_cluster_id: str | None = None
    previous_status: Literal["applied", "approved"] | None = Field(
        None, description="An exchange cancelled after approval no longer counts as committed"
    )


@event
class ExchangeCancelledV2(EventData):
    """v2: the free-text reason a partner typed ("Anna is ill") is sealed with the participant's key."""

    type = "exchange.cancelled"
    version = 2
    exchange_id: str
    participant_id: str
    sending_cluster_id: str
    reason: Sealed | None = Field(None, description='{"text": ...} sealed with the participant\'s data key')
    host_cluster_id: str | None = None
    previous_status: Literal["applied", "approved"] | None = Field(
        None, description="An exchange cancelled after approval no longer counts as committed"
    )


@upcaster("exchange.cancelled", 1)
def _unsealed_v1_reason(data: dict[str, Any]) -> dict[str, Any]:
    reason = data.get("reason")
    sealed = None if reason is None else {"alg": "none", "kid": data["participant_id"], "plain": {"text": reason}}
    return {**data, "reason": sealed}


@event
class ExchangeCompleted(EventData):
    type = "exchange.completed"
    exchange_id: str
    participant_id: str
    sending_cluster_id: str
    completed_on: date
    working_days: int
    meetings_held: int
    satisfaction: int = Field(ge=1, le=5)
    outcomes: tuple[Outcome, ...]
    host_cluster_id: str | None = None
    lump_sum_eur: int | None = Field(None, description="The lump sum approved for it, now paid")


# --- match.* and meeting.* -----------------------------------------------------------------------


@event
class MatchSuggested(EventData):
    type = "match.suggested"
    activity_id: str
    participant_id: str
    suggested_id: str
    score: float
    reasons: tuple[str, ...] = ()


class _MeetingEvent(EventData):
    meeting_id: str
    activity_id: str
    requester_id: str
    target_id: str


@event
class MeetingRequested(_MeetingEvent):
    type = "meeting.requested"
    expires_at: datetime


@event
class MeetingAccepted(_MeetingEvent):
    type = "meeting.accepted"


@event
class MeetingDeclined(_MeetingEvent):
    type = "meeting.declined"


@event
class MeetingExpired(_MeetingEvent):
    type = "meeting.expired"


@event
class MeetingScheduled(_MeetingEvent):
    type = "meeting.scheduled"
    schedule_version: int
    starts_at: datetime
    ends_at: datetime
    table: int | None = None
    online: bool = False


@event
class MeetingUnscheduled(_MeetingEvent):
    type = "meeting.unscheduled"
    schedule_version: int
    reason: str


@event
class MeetingRated(_MeetingEvent):
    type = "meeting.rated"
    rated_by: str
    rating: MeetingRating


@event
class MeetingHeld(_MeetingEvent):
    type = "meeting.held"


# --- apikey.* ------------------------------------------------------------------------------------


@event
class ApiKeyIssued(EventData):
    """Lets every service authenticate callers without a call to registration. Carries the SHA-256 digest
    of a 256-bit random key, never the key: the digest cannot be turned back into a usable key."""

    type = "apikey.issued"
    key_id: str
    cluster_id: str
    role: Literal["partner", "coordinator", "ops"]
    key_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    prefix: str = Field(description="First characters of the key, to recognise it in listings")
    label: str | None = None


@event
class ApiKeyRevoked(EventData):
    type = "apikey.revoked"
    key_id: str
    cluster_id: str


# v2: signed by registration (shared/keysigning.py), so writing to cxc.keys no longer mints or revokes keys.
_SIGNATURE = Field(description="Ed25519 signature by registration's key-signing key, base64 (shared/keysigning.py)")


@event
class ApiKeyIssuedV2(EventData):
    """Lets every service authenticate callers without a call to registration. Carries the SHA-256 digest
    of a 256-bit random key, never the key; replicas apply it only with a valid signature."""

    type = "apikey.issued"
    version = 2
    key_id: str
    cluster_id: str
    role: Literal["partner", "coordinator", "ops"]
    key_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    prefix: str = Field(description="First characters of the key, to recognise it in listings")
    label: str | None = None
    signature: str = _SIGNATURE


@event
class ApiKeyRevokedV2(EventData):
    type = "apikey.revoked"
    version = 2
    key_id: str
    cluster_id: str
    signature: str = _SIGNATURE


@upcaster("apikey.issued", 1)
@upcaster("apikey.revoked", 1)
def _unsigned_v1_key_event(data: dict[str, Any]) -> dict[str, Any]:
    """v1 key events predate signing: they upcast with an empty signature, which every replica rejects
    (dead letter). Keys issued before the upgrade are re-announced signed by `cxc keys resign`."""
    return {**data, "signature": ""}


# --- notification.* ------------------------------------------------------------------------------


@event
class NotificationSent(EventData):
    type = "notification.sent"
    notification_id: str
    trigger_event_id: str
    channel: Literal["email", "webhook"]
    template: str
    recipient_ref: str = Field(description="Participant id or webhook subscription id, never an address")
    attempts: int


@event
class NotificationFailed(EventData):
    type = "notification.failed"
    notification_id: str
    trigger_event_id: str
    channel: Literal["email", "webhook"]
    template: str
    recipient_ref: str
    attempts: int
    error: str
