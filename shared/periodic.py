"""One loop for every periodic background job (expiry sweeps, digest planning, housekeeping).

Guarantees:
- A failing round never ends the loop: the error is logged and counted
  (``cxc_periodic_runs_total{outcome="failed"}``, ``cxc_periodic_consecutive_failures``) and the next
  round comes after a jittered exponential backoff (the one retry policy, ``shared/retry.py``:
  ``base_backoff_s`` doubling up to ``max_backoff_s``, each delay drawn from its upper half so replicas that
  failed together do not retry in lockstep, and a job never hammers the database right after a failure). A
  database blip therefore delays the job; it does not take the service down with it.
- After a success the next round comes after ``interval_s`` and the failure count resets.
- Cancellation (service shutdown) stops the loop at once, also in the middle of a round or a sleep.

Why not let the worker die and the supervisor restart the process: a restart drops every HTTP request
and consumer in flight and rejoins the consumer groups (a rebalance) for what is usually a second-long
database hiccup; a job that keeps failing stays visible in its metrics and logs instead.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from shared import metrics
from shared.retry import RetryPolicy

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[Any]]


def policy(base_s: float, max_s: float) -> RetryPolicy:
    """The periodic workers' retry policy: never more than ``max_s`` (even below ``base_s``, for a job whose
    interval is shorter than the usual first backoff), jitter over the upper half of each ceiling."""
    return RetryPolicy(base_s=min(base_s, max_s), cap_s=max_s, jitter=0.5)


def backoff_delay(failures: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Delay before the round after ``failures`` failed rounds in a row (``failures`` >= 1)."""
    return policy(base_s, max_s).delay(failures, rng)


async def run_periodically(
    name: str,
    step: Callable[[], Awaitable[Any]],
    *,
    interval_s: float,
    base_backoff_s: float = 1.0,
    max_backoff_s: float = 60.0,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
) -> None:
    """Run ``step`` every ``interval_s`` until cancelled, surviving its failures (see module docstring)."""
    retry = policy(base_backoff_s, max_backoff_s)
    failures = 0
    metrics.PERIODIC_CONSECUTIVE_FAILURES.labels(name).set(0)
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            delay = retry.delay(failures, rng)
            metrics.PERIODIC_RUNS.labels(name, "failed").inc()
            metrics.PERIODIC_CONSECUTIVE_FAILURES.labels(name).set(failures)
            # The first failures are the expected blips; a streak is logged with its traceback.
            log.log(logging.ERROR if failures >= 5 else logging.WARNING,
                    "%s failed (%r), %d in a row; next try in %.1fs", name, exc, failures, delay,
                    exc_info=failures >= 5)
            await sleep(delay)
            continue
        if failures:
            log.info("%s succeeded again after %d failed rounds", name, failures)
        failures = 0
        metrics.PERIODIC_RUNS.labels(name, "ok").inc()
        metrics.PERIODIC_CONSECUTIVE_FAILURES.labels(name).set(0)
        metrics.PERIODIC_LAST_SUCCESS.labels(name).set(time.time())
        await sleep(interval_s)
