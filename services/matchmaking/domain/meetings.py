"""A meeting request (which is the meeting) as the handlers see it, and who may see or answer it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

# A meeting counts as held once someone says it happened and nobody says it did not.
HELD_RATINGS = frozenset({"insufficient_interest", "no_cooperation", "cooperation_possible"})


class PairTaken(Exception):
    """The pair got an open request concurrently (the unique index won the race)."""


@dataclass(frozen=True)
class Meeting:
    meeting_id: uuid.UUID
    activity_id: str
    requester_id: str
    target_id: str
    message: str | None
    status: str  # pending | accepted | declined | expired
    mutual: bool
    expires_at: datetime
    created_at: datetime
    schedule_version: int | None = None
    slot: int | None = None
    table: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    held: bool = False

    @property
    def parties(self) -> tuple[str, str]:
        return self.requester_id, self.target_id

    def other(self, participant_id: str) -> str:
        return self.target_id if self.requester_id == participant_id else self.requester_id


@dataclass(frozen=True)
class Requested:
    """The outcome of a meeting request: a new request (created) or the pair's mutual acceptance."""

    meeting: Meeting
    created: bool


@dataclass(frozen=True)
class Rated:
    meeting_id: uuid.UUID
    ratings: dict[str, str]
    held: bool
