"""An activity's meeting grid: slots per day in the activity's IANA timezone. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_SLOT_MINUTES = 24 * 60


@dataclass(frozen=True)
class Slot:
    index: int
    day: int
    starts_at: datetime  # aware, in the activity's timezone
    ends_at: datetime


class InvalidMeetingSettings(ValueError):
    """Meeting settings no grid can be built from. Matchmaking stores what activity events say (events are
    facts) and refuses to schedule with them instead."""


@dataclass(frozen=True)
class GridSize:
    days: int
    slots_per_day: int

    @property
    def slots(self) -> int:
        return self.days * self.slots_per_day


def size(starts_on: date, ends_on: date, meetings: Mapping[str, Any]) -> GridSize:
    """The size of ``grid`` for these settings, by arithmetic alone: it allocates nothing, so a limit can be
    checked before anything is built. Raises InvalidMeetingSettings for settings ``grid`` cannot use."""
    minutes = meetings.get("slot_minutes")
    if type(minutes) is not int or not 1 <= minutes <= MAX_SLOT_MINUTES:
        raise InvalidMeetingSettings(f"slot_minutes must be a whole number from 1 to {MAX_SLOT_MINUTES}")
    bounds = []
    for name in ("day_start", "day_end"):
        try:
            t = time.fromisoformat(meetings.get(name))
        except (TypeError, ValueError):
            t = None
        if t is None or t.tzinfo is not None:  # the grid's zone is ``timezone``; an offset here would clash
            raise InvalidMeetingSettings(f"{name} must be a local time of day such as 09:00")
        bounds.append(t)
    timezone = meetings.get("timezone")
    try:
        ZoneInfo(timezone)
    except (TypeError, ValueError, ZoneInfoNotFoundError, OSError):
        raise InvalidMeetingSettings("timezone must be an IANA time zone such as Europe/Berlin") from None
    tables = meetings.get("tables")
    if type(tables) is not int or tables < 0:
        raise InvalidMeetingSettings("tables must be a whole number, 0 or more")
    if ends_on < starts_on:
        raise InvalidMeetingSettings("the activity ends before it starts")
    first, last = (datetime.combine(starts_on, t) for t in bounds)
    per_day = max(0, (last - first) // timedelta(minutes=minutes))
    return GridSize((ends_on - starts_on).days + 1, per_day)


def grid(starts_on: date, ends_on: date, day_start: str, day_end: str, slot_minutes: int, timezone: str) -> list[Slot]:
    tz = ZoneInfo(timezone)
    first, last = time.fromisoformat(day_start), time.fromisoformat(day_end)
    step = timedelta(minutes=slot_minutes)
    out: list[Slot] = []
    for d in range((ends_on - starts_on).days + 1):
        day = starts_on + timedelta(days=d)
        # Wall-clock arithmetic in the zone, so a slot at 09:00 stays at 09:00 across a DST change.
        start = datetime.combine(day, first)
        end_of_day = datetime.combine(day, last)
        while start + step <= end_of_day:
            out.append(Slot(len(out), d, start.replace(tzinfo=tz), (start + step).replace(tzinfo=tz)))
            start += step
    return out


def unavailable_slots(slots: list[Slot], periods, timezone: str) -> frozenset[int]:
    """Indexes of the slots overlapping any [start, end) period; naive times are read in the activity's zone."""
    tz = ZoneInfo(timezone)
    spans = [(a if a.tzinfo else a.replace(tzinfo=tz), b if b.tzinfo else b.replace(tzinfo=tz)) for a, b in periods]
    return frozenset(s.index for s in slots for a, b in spans if s.starts_at < b and a < s.ends_at)
