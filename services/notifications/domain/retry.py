"""When to try a failed delivery again, and when to give up."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from shared.retry import RetryPolicy


def next_attempt(
    *, attempts: int, first_planned: datetime, now: datetime, base_s: float, max_s: float, give_up_after_s: float,
    rng: random.Random | None = None,
) -> datetime | None:
    """The one retry policy (shared/retry.py) after ``attempts`` failed tries: ceilings base, 2·base, 4·base …
    capped at max, each delay drawn from the upper half of its ceiling so that the deliveries an outage failed
    together do not all come back at once; None when the next try would fall beyond ``give_up_after_s`` from
    the first planned time (then: failed)."""
    policy = RetryPolicy(base_s=min(base_s, max_s), cap_s=max_s, jitter=0.5)
    at = now + timedelta(seconds=policy.delay(max(attempts, 1), rng))
    if at > first_planned + timedelta(seconds=give_up_after_s):
        return None
    return at
