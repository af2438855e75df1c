"""Abuse and failure modes of the runtime (issue 13, points 6 and 9): API keys cannot be minted by writing to
a topic and revocations are order-safe; a statement timeout is retried and dead-lettered instead of
crash-looping a consumer; periodic workers survive transient errors; the scheduler refuses inputs that would
allocate without bound."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import asyncpg
import pytest

from services.matchmaking.adapters import activities
from services.matchmaking.bootstrap import expiry_sweeper
from shared import metrics
from shared.db import create_pool, migrate
from shared.events.catalogue import ActivityCreated, MeetingSettings
from shared.periodic import backoff_delay, run_periodically
from tests.helpers import eventually


def sample(metric, *labels) -> float:
    return metric.labels(*labels)._value.get()


# --- periodic workers ----------------------------------------------------------------------------


async def test_periodic_worker_keeps_running_through_failures_and_backs_off_exponentially():
    name = f"unit-{uuid.uuid4().hex[:8]}"
    outcomes = iter([ConnectionRefusedError("db down"), asyncpg.CannotConnectNowError("starting up"),
                     RuntimeError("bug"), None, None])
    calls, sleeps = [], []

    async def step():
        calls.append(1)
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome

    async def fake_sleep(seconds):
        sleeps.append(seconds)
        if len(calls) == 5:
            raise asyncio.CancelledError  # stop the loop the way a shutdown does

    with pytest.raises(asyncio.CancelledError):
        await run_periodically(name, step, interval_s=30, base_backoff_s=1, max_backoff_s=60, sleep=fake_sleep,
                               rng=random.Random(7))
    assert len(calls) == 5
    # three failures: jittered delays from the upper half of 1, 2, 4 s; then the interval after each success
    assert 0.5 <= sleeps[0] <= 1 and 1 <= sleeps[1] <= 2 and 2 <= sleeps[2] <= 4
    assert sleeps[3:] == [30, 30]
    assert sample(metrics.PERIODIC_RUNS, name, "failed") == 3
    assert sample(metrics.PERIODIC_RUNS, name, "ok") == 2
    assert sample(metrics.PERIODIC_CONSECUTIVE_FAILURES, name) == 0


def test_backoff_is_capped_and_jittered():
    rng = random.Random(1)
    delays = [backoff_delay(n, 1, 10, rng) for n in range(1, 12)]
    assert all(5 <= d <= 10 for d in delays[4:])  # capped at 10 s, never below half the cap
    assert len({round(d, 6) for d in delays[4:]}) > 1  # replicas failing together spread out


async def test_periodic_worker_stops_at_once_when_cancelled_mid_round():
    started = asyncio.Event()

    async def slow_step():
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(run_periodically(f"cancel-{uuid.uuid4().hex[:8]}", slow_step, interval_s=1))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)


class FlakyPool:
    """The real pool, except that the first ``failures`` acquisitions fail as during a database restart."""

    def __init__(self, pool: asyncpg.Pool, failures: int) -> None:
        self.pool, self.failures = pool, failures

    def acquire(self, *args, **kwargs):
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        return self.pool.acquire(*args, **kwargs)


@pytest.mark.integration
async def test_meeting_expiry_sweeper_survives_a_database_blip_and_expires_later(database_url):
    pool = await create_pool(database_url, "matchmaking", max_size=2)
    try:
        await migrate(pool, "matchmaking", "services.matchmaking.migrations")
        activity_id, meeting_id = f"act-{uuid.uuid4().hex[:8]}", uuid.uuid4()
        async with pool.acquire() as conn:
            await activities.upsert_created(conn, ActivityCreated(
                activity_id=activity_id, kind="mission", title="Mission", host_cluster_id="gaia", country="ES",
                starts_on=date(2026, 7, 1), ends_on=date(2026, 7, 1),
                meetings=MeetingSettings(day_start="09:00", day_end="10:00", slot_minutes=30, tables=2,
                                         timezone="Europe/Madrid"),
            ))
            await conn.execute(
                "INSERT INTO meetings (meeting_id, activity_id, requester_id, target_id, status, expires_at) "
                "VALUES ($1, $2, 'a', 'b', 'pending', $3)", meeting_id, activity_id, datetime.now(UTC) - timedelta(hours=1),
            )
        flaky = FlakyPool(pool, failures=3)
        service = SimpleNamespace(pool=flaky, settings=SimpleNamespace(expiry_interval_s=0.05))
        before = sample(metrics.PERIODIC_RUNS, "meeting-request-expiry", "failed")
        task = asyncio.create_task(expiry_sweeper(service))
        try:
            async def expired():
                if task.done():  # the old sweeper died on the first failed acquire
                    raise AssertionError(f"the sweeper stopped: {task.exception()!r}")
                return await pool.fetchval("SELECT status FROM meetings WHERE meeting_id = $1", meeting_id) == "expired"

            await eventually(expired, timeout=30)
            assert flaky.failures == 0 and not task.done()
            assert sample(metrics.PERIODIC_RUNS, "meeting-request-expiry", "failed") - before == 3
            assert await pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'meeting.expired'") == 1
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await pool.close()
