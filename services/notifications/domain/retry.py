"""When to try a failed delivery again, and when to give up."""

from __future__ import annotations

from datetime import datetime, timedelta


def next_attempt(
    *, attempts: int, first_planned: datetime, now: datetime, base_s: float, max_s: float, give_up_after_s: float
) -> datetime | None:
    """Exponential backoff (base, 2·base, 4·base … capped at max) after ``attempts`` failed tries; None when
    the next try would fall beyond ``give_up_after_s`` from the first planned time (then: failed)."""
    delay = min(base_s * 2 ** max(attempts - 1, 0), max_s)
    at = now + timedelta(seconds=delay)
    if at > first_planned + timedelta(seconds=give_up_after_s):
        return None
    return at
