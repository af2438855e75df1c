"""An activity's meeting grid: slots per day in the activity's IANA timezone. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Slot:
    index: int
    day: int
    starts_at: datetime  # aware, in the activity's timezone
    ends_at: datetime


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
