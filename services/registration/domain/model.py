"""Registration domain: what a valid participant is. Pure: no I/O."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from iso3166 import countries_by_alpha2
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, HttpUrl

from shared.events.catalogue import OfferType, ParticipantKind

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
