"""Registration domain: what a valid participant is. Pure: no I/O."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from iso3166 import countries_by_alpha2
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    model_validator,
)

from shared.events.catalogue import ActivityKind, ExchangeKind, OfferType, Outcome, ParticipantKind

Language = Literal["en", "de", "fr", "pl", "lt", "bg", "es"]

# NACE Rev. 2: section letter, then optional division (2 digits), group (.d) and class (d).
NACE = re.compile(r"^[A-U](\d{2}(\.\d{1,2})?)?$")


def _country(code: str) -> str:
    code = code.upper()
    if code not in countries_by_alpha2:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def _nace(code: str) -> str:
    code = code.strip().upper()
    if not NACE.match(code):
        raise ValueError(f"{code!r} is not a NACE Rev. 2 code (e.g. J62.01, C26, J)")
    return code


def _true(value: bool) -> bool:
    if value is not True:
        raise ValueError("consent to data processing is required")
    return value


Country = Annotated[str, Field(min_length=2, max_length=2, examples=["DE"]), AfterValidator(_country)]
NaceCode = Annotated[str, Field(max_length=8, examples=["J62.01"]), AfterValidator(_nace)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OfferIn(Strict):
    type: OfferType
    text: str = Field(min_length=1, max_length=2000)


class Contact(Strict):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    phone: str | None = Field(None, max_length=40, pattern=r"^\+?[0-9 ()./-]{5,40}$")
    language: Language = Field("en", description="Language for e-mails")


class Consent(Strict):
    data_processing: Annotated[bool, AfterValidator(_true)]
    marketing: bool = False


class ParticipantIn(Strict):
    kind: ParticipantKind
    name: str = Field(min_length=1, max_length=300, description="Organisation name")
    country: Country
    city: str | None = Field(None, max_length=120)
    employees: int | None = Field(None, ge=0, le=10_000_000)
    website: HttpUrl | None = None
    sectors: list[NaceCode] = Field(default_factory=list, max_length=20)
    keywords: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(default_factory=list, max_length=50)
    offers: list[OfferIn] = Field(default_factory=list, max_length=20)
    requests: list[OfferIn] = Field(default_factory=list, max_length=20)
    contact: Contact
    consent: Consent
    cluster_id: str | None = Field(None, description="Coordinator only: the cluster to register into")
    external_ref: str | None = Field(None, max_length=120, description="The partner's own id; unique per cluster")


Role = Literal["partner", "coordinator", "ops"]


# --- participant changes -------------------------------------------------------------------------

PROFILE_FIELDS = ("kind", "name", "country", "city", "employees", "website", "sectors", "keywords", "offers",
                  "requests", "marketing_consent")
_REQUIRED_ON_PATCH = {"kind", "name", "country", "sectors", "keywords", "offers", "requests", "contact", "consent"}


class ConsentPatch(Strict):
    marketing: bool


class ParticipantPatch(Strict):
    """Fields present replace the stored value; ``null`` clears an optional field. ``contact`` is replaced
    as a whole."""

    kind: ParticipantKind | None = None
    name: str | None = Field(None, min_length=1, max_length=300)
    country: Country | None = None
    city: str | None = Field(None, max_length=120)
    employees: int | None = Field(None, ge=0, le=10_000_000)
    website: HttpUrl | None = None
    sectors: list[NaceCode] | None = Field(None, max_length=20)
    keywords: list[Annotated[str, Field(min_length=1, max_length=60)]] | None = Field(None, max_length=50)
    offers: list[OfferIn] | None = Field(None, max_length=20)
    requests: list[OfferIn] | None = Field(None, max_length=20)
    contact: Contact | None = None
    consent: ConsentPatch | None = None

    @model_validator(mode="after")
    def _required_fields_are_not_cleared(self):
        cleared = sorted(f for f in self.model_fields_set & _REQUIRED_ON_PATCH if getattr(self, f) is None)
        if cleared:
            raise ValueError(f"these fields cannot be null: {', '.join(cleared)}")
        return self

    def changes(self) -> dict[str, Any]:
        """The stored-column values this patch sets (``marketing_consent`` for ``consent``)."""
        data = self.model_dump(mode="json", include=self.model_fields_set)
        if "consent" in data:
            data["marketing_consent"] = data.pop("consent")["marketing"]
        return data


def changed_fields(before: dict[str, Any], changes: dict[str, Any]) -> list[str]:
    """Names of the fields whose value actually differs, in a stable order."""
    order = [*PROFILE_FIELDS, "contact"]
    return [f for f in order if f in changes and changes[f] != before.get(f)]


class ParticipantBatch(Strict):
    # Items stay raw here so one bad item is reported in its own result instead of failing the batch.
    items: list[dict[str, Any]] = Field(min_length=1, max_length=500)


# --- activities ----------------------------------------------------------------------------------

_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    return name


class MeetingSettingsIn(Strict):
    day_start: str = Field(pattern=_HHMM, examples=["09:00"])
    day_end: str = Field(pattern=_HHMM, examples=["17:00"])
    slot_minutes: int = Field(ge=5, le=240, examples=[30])
    tables: int = Field(ge=1, le=1000, examples=[20])
    timezone: Annotated[str, Field(max_length=64, examples=["Europe/Berlin"]), AfterValidator(_timezone)]

    @model_validator(mode="after")
    def _day_has_a_slot(self):
        start, end = (int(t[:2]) * 60 + int(t[3:]) for t in (self.day_start, self.day_end))
        if end - start < self.slot_minutes:
            raise ValueError("day_end must be at least one slot after day_start")
        return self


class ActivityIn(Strict):
    kind: ActivityKind
    title: str = Field(min_length=1, max_length=300)
    host_cluster_id: str = Field(min_length=1, max_length=63)
    city: str | None = Field(None, max_length=120)
    country: Country
    starts_on: date
    ends_on: date
    online: bool = False
    capacity: int | None = Field(None, ge=1, le=100_000)
    meetings: MeetingSettingsIn | None = None

    @model_validator(mode="after")
    def _ends_after_start(self):
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


class JoinIn(Strict):
    participant_id: uuid.UUID
    unavailable: list[tuple[AwareDatetime, AwareDatetime]] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _periods_are_ordered(self):
        for i, (start, end) in enumerate(self.unavailable):
            if end <= start:
                raise ValueError(f"unavailable[{i}] ends before it starts")
        return self


# --- exchanges -----------------------------------------------------------------------------------


class ExchangeIn(Strict):
    participant_id: uuid.UUID
    host_cluster_id: str = Field(min_length=1, max_length=63)
    activity_id: uuid.UUID | None = None
    kind: ExchangeKind
    start_date: date
    end_date: date
    goals: str = Field(min_length=1, max_length=5000)


class CancelIn(Strict):
    reason: str | None = Field(None, max_length=500)


class CompletionIn(Strict):
    completed_on: date
    working_days: int = Field(ge=0, le=31)
    meetings_held: int = Field(ge=0, le=10_000)
    satisfaction: int = Field(ge=1, le=5)
    outcomes: list[Outcome] = Field(min_length=1, max_length=5)
    testimonial: str | None = Field(None, max_length=5000)


# --- pagination ----------------------------------------------------------------------------------


def encode_cursor(created_at: datetime, pid: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{pid}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Inverse of ``encode_cursor``; ValueError for anything it did not produce."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, pid = raw.split("|")
        created_at = datetime.fromisoformat(stamp)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ValueError("not a cursor returned by this API") from None
    if created_at.tzinfo is None:
        raise ValueError("not a cursor returned by this API")
    return created_at, uuid.UUID(pid)
