"""The response bodies of reporting's API, as the OpenAPI document declares them (documentation only:
the views are unchanged; tests/integration/test_openapi_contract.py checks real answers against them).

Counts are ``null`` where disclosure suppressed them (services/reporting/domain/disclosure.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import NotRequired, TypedDict

from shared.openapi import DateTime

Count = Annotated[int | None, Field(description="null: suppressed (fewer than 5 behind it)")]
Counts = dict[str, Count]


class Disclosure(TypedDict):
    audience: Literal["partner", "public"]
    suppressed_below: int


class ExchangeCounts(TypedDict):
    total: Count
    smes: Count
    cluster_staff: Count
    by_kind: Counts
    by_status: Counts
    by_sending_cluster: Counts
    by_host_cluster: Counts


class ParticipantCounts(TypedDict):
    total: Count
    by_kind: Counts
    by_country: Counts
    by_cluster: Counts


class ActivityCounts(TypedDict):
    total: Count
    by_kind: Counts


class MeetingCounts(TypedDict):
    requested: Count
    accepted: Count
    declined: Count
    scheduled: Count
    held: Count
    acceptance_rate: float | None


class Satisfaction(TypedDict):
    average: float | None
    responses: Count
    distribution: Annotated[Counts, Field(description="Closing reports per score 1..5")]


class LumpSums(TypedDict):
    committed: int | None
    paid: int | None


class AsOf(TypedDict):
    last_event_time: DateTime | None
    events_applied: int


class Scoreboard(TypedDict):
    """The monitoring scoreboard, as the caller's audience may read it."""

    exchanges: ExchangeCounts
    participants: ParticipantCounts
    activities: ActivityCounts
    meetings: MeetingCounts
    satisfaction: Satisfaction
    outcomes: Counts
    countries_reached: Count
    lump_sums_eur: LumpSums
    as_of: AsOf
    disclosure: NotRequired[Disclosure]


class Point(TypedDict):
    period: Annotated[str, Field(examples=["2026-03", "2026-Q1"])]
    value: int | float | None
    cumulative: int | float | None


class Timeseries(TypedDict):
    metric: str
    interval: Literal["month", "quarter"]
    cluster: str | None
    points: list[Point]
    disclosure: NotRequired[Disclosure]


class DashboardLink(TypedDict):
    path: Annotated[str, Field(description="Open it on this service within the validity; it works once")]
    expires_at: DateTime


class GroupLag(TypedDict):
    group: str
    lag: int
    by_topic: dict[str, int]


class Lag(TypedDict):
    groups: list[GroupLag]
