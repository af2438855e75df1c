"""Programme rules for exchanges. Pure functions: dates in, decisions out.

- Working days are Monday to Friday; public holidays are not subtracted (they differ per host region and
  the closing report states the days actually worked).
- An exchange lasts 3 working days to 1 month: ``end_date`` may be at most one calendar month after
  ``start_date`` (1 March → 1 April at the latest; 31 January → 28/29 February).
- Lump sum: the host country's cap (see ``settings.DEFAULT_LUMP_SUM_CAPS_EUR``), halved (rounded down to
  whole euros) when the stay has fewer than 5 working days or the sending and host cities are less than
  200 km apart (great-circle). An unknown distance does not halve the sum.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

MIN_WORKING_DAYS = 3
SHORT_STAY_WORKING_DAYS = 5
NEAR_KM = 200.0


class RuleViolation(ValueError):
    """A request that is well-formed but breaks a programme rule."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def working_days(start: date, end: date) -> int:
    """Monday–Friday days from ``start`` to ``end``, both included."""
    if end < start:
        return 0
    days = (end - start).days + 1
    full_weeks, rest = divmod(days, 7)
    count = full_weeks * 5
    for i in range(rest):
        if (start + timedelta(days=full_weeks * 7 + i)).weekday() < 5:
            count += 1
    return count


def one_month_after(day: date) -> date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def check_exchange_period(start: date, end: date) -> int:
    """Return the working days of a valid exchange period, or raise ``RuleViolation``."""
    if end < start:
        raise RuleViolation("end_date", "end_date is before start_date")
    if end > one_month_after(start):
        raise RuleViolation("end_date", f"an exchange lasts at most one month (until {one_month_after(start)})")
    days = working_days(start, end)
    if days < MIN_WORKING_DAYS:
        raise RuleViolation("end_date", f"an exchange lasts at least {MIN_WORKING_DAYS} working days, this has {days}")
    return days


@dataclass(frozen=True)
class LumpSum:
    eur: int
    cap_eur: int
    halved: bool
    reasons: tuple[str, ...]
    distance_km: float | None


def lump_sum(
    host_country: str, working_days: int, distance_km: float | None, caps: dict[str, int], default_cap: int
) -> LumpSum:
    cap = caps.get(host_country.strip().upper(), default_cap)
    reasons = []
    if working_days < SHORT_STAY_WORKING_DAYS:
        reasons.append(f"stay under {SHORT_STAY_WORKING_DAYS} working days")
    if distance_km is not None and distance_km < NEAR_KM:
        reasons.append(f"distance under {NEAR_KM:.0f} km")
    halved = bool(reasons)
    return LumpSum(cap // 2 if halved else cap, cap, halved, tuple(reasons),
                   None if distance_km is None else round(distance_km, 1))
