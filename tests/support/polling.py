"""Waiting for a condition: the one ``eventually`` (async) and its blocking twin ``poll`` (for tests that
drive processes with a synchronous client). Both fail with the last value seen, so a failure says what the
test was waiting on."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T] | T], timeout: float = 20.0, interval: float = 0.1) -> T:
    """Poll ``check`` (a coroutine function or a plain one) until it returns a truthy value; fail with the
    last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def poll(check: Callable[[], T], timeout: float = 20.0, interval: float = 0.05) -> T:
    """``eventually`` for synchronous checks (blocks the thread while it waits)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")

