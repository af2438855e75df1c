"""The one retry policy (shared/retry.py): exponential growth, the cap, jitter within its bounds, the
attempt bound, and the state a retry loop keeps."""

import logging
import random

import pytest

from shared.retry import RetryPolicy


def test_ceilings_double_up_to_the_cap():
    policy = RetryPolicy(base_s=0.5, cap_s=5.0)
    assert [policy.ceiling(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.ceiling(10_000) == 5.0  # a long streak neither overflows nor passes the cap


def test_full_jitter_spreads_delays_over_the_whole_range():
    policy = RetryPolicy(base_s=1, cap_s=8)
    rng = random.Random(3)
    delays = [policy.delay(4, rng) for _ in range(200)]
    assert all(0 < d <= 8 for d in delays)
    assert min(delays) < 2 and max(delays) > 6  # not bunched at the ceiling: replicas spread out


def test_partial_jitter_keeps_the_lower_bound():
    policy = RetryPolicy(base_s=1, cap_s=10, jitter=0.5)
    rng = random.Random(1)
    delays = [policy.delay(n, rng) for n in range(5, 40)]
    assert all(5 <= d <= 10 for d in delays) and len({round(d, 6) for d in delays}) > 1


def test_no_jitter_is_deterministic():
    assert [RetryPolicy(base_s=10, cap_s=3600, jitter=0).delay(n) for n in (1, 3, 20)] == [10, 40, 3600]


def test_the_attempt_bound_and_the_loop_state():
    backoff = RetryPolicy(base_s=1, cap_s=4, jitter=0, max_attempts=2).backoff()
    assert [backoff.failed() for _ in range(3)] == [1, 2, 4]
    assert backoff.exhausted
    backoff.reset()
    assert not backoff.exhausted and backoff.failed() == 1
    assert not RetryPolicy().gives_up(10**6)


@pytest.mark.parametrize("kw", [{"base_s": 0}, {"base_s": 2, "cap_s": 1}, {"jitter": 1.5}, {"jitter": -0.1}])
def test_nonsense_policies_are_refused(kw):
    with pytest.raises(ValueError):
        RetryPolicy(**kw)


async def test_until_success_retries_only_the_named_errors_and_resets():
    slept, calls = [], []

    async def sleep(seconds):
        slept.append(seconds)

    async def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OSError("database away")
        return "done"

    backoff = RetryPolicy(base_s=1, cap_s=8, jitter=0).backoff(sleep=sleep)
    log = logging.getLogger("test-retry")
    assert await backoff.until_success(flaky, retry_on=(OSError,), log=log, what="flaky step") == "done"
    assert slept == [1, 2] and backoff.failures == 0

    async def broken():
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        await backoff.until_success(broken, retry_on=(OSError,), log=log, what="broken step")
    assert slept == [1, 2]


async def test_until_success_gives_up_past_max_attempts():
    async def sleep(seconds):
        pass

    async def down():
        raise OSError("still away")

    backoff = RetryPolicy(base_s=1, cap_s=1, max_attempts=2).backoff(sleep=sleep)
    with pytest.raises(OSError):
        await backoff.until_success(down, retry_on=(OSError,), log=logging.getLogger("t"), what="down")
    assert backoff.failures == 2
