"""The one retry policy: exponential backoff with jitter, a cap, and an optional bound on attempts.

Every retry loop of the platform draws its delays here (consumer runner, outbox relay, notifications'
senders and delivery schedule, periodic workers, ``cxc run``'s supervisor), so they all behave alike:
the n-th failure in a row waits ``ceiling(n) = min(base_s · 2^(n-1), cap_s)`` scaled down by a random
fraction of up to ``jitter`` (1.0 = "full jitter", a delay anywhere in (0, ceiling]; 0.5 = the upper half).
Jitter is the point: replicas that failed together (a database restart, a broker failover) do not come back
in lockstep and knock the recovering server over again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

Sleep = Callable[[float], Awaitable[Any]]
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 0.2
    cap_s: float = 5.0
    jitter: float = 1.0
    max_attempts: int | None = None  # failures tolerated in a row; None: retry for ever

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.cap_s < self.base_s:
            raise ValueError(f"retry policy needs 0 < base_s <= cap_s, got {self.base_s}, {self.cap_s}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"retry jitter is a fraction in [0, 1], got {self.jitter}")

    def ceiling(self, failures: int) -> float:
        """The longest delay after ``failures`` failures in a row (>= 1)."""
        # The exponent is bounded so that a long streak cannot overflow the float.
        return min(self.base_s * 2 ** min(max(failures, 1) - 1, 64), self.cap_s)

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """The delay before the next try after ``failures`` failures in a row (>= 1)."""
        ceiling = self.ceiling(failures)
        return ceiling * (1 - self.jitter * (rng or random).random())

    def gives_up(self, failures: int) -> bool:
        return self.max_attempts is not None and failures > self.max_attempts

    def backoff(self, *, rng: random.Random | None = None, sleep: Sleep = asyncio.sleep) -> Backoff:
        return Backoff(self, rng=rng, sleep=sleep)


class Backoff:
    """A retry loop's state under a policy: count a failure and wait, or reset after a success."""

    def __init__(self, policy: RetryPolicy, *, rng: random.Random | None = None, sleep: Sleep = asyncio.sleep):
        self.policy, self.rng, self.sleep = policy, rng, sleep
        self.failures = 0

    def failed(self) -> float:
        """Count a failure; the delay to wait before the next try."""
        self.failures += 1
        return self.policy.delay(self.failures, self.rng)

    @property
    def exhausted(self) -> bool:
        return self.policy.gives_up(self.failures)

    def reset(self) -> None:
        self.failures = 0

    async def until_success(self, step: Callable[[], Awaitable[T]], *, retry_on: tuple[type[BaseException], ...],
                            log: logging.Logger, what: str) -> T:
        """Run ``step`` until it returns: after each ``retry_on`` error log ``what`` with the error and the
        delay, wait, try again; any other error propagates. Resets the count on success."""
        while True:
            try:
                result = await step()
            except retry_on as exc:
                if self.policy.gives_up(self.failures + 1):
                    raise
                delay = self.failed()
                log.warning("%s (%r); retrying in %.1fs", what, exc, delay)
                await self.sleep(delay)
                continue
            self.reset()
            return result
