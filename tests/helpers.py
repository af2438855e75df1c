from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from shared.events.catalogue import ParticipantRegistered, Profile
from shared.messaging.reader import TopicReader

T = TypeVar("T")

# The tests are one of the two suppliers of dev secrets (the other is `cxc run`): tests/conftest.py puts these
# in the environment with CXC_ENV=test, so every settings object a test builds has them. Tests that start
# services as processes give them an environment of their own.
TEST_SECRETS = {
    "CXC_INTERNAL_TOKEN": "test-internal-token-of-the-test-suite",
    "CXC_NOTIFICATIONS_SIGNING_SECRET": "test-signing-secret-of-the-test-suite",
    # The test suite's API-key signing pair (shared/keysigning.py); public, so never valid outside tests.
    "CXC_KEY_SIGNING_PRIVATE_KEY": "KPw74qTSnWrN1UZ4NjM3kgCRS3YXj6PqFMREEK54gqg=",
    "CXC_KEY_SIGNING_PUBLIC_KEY": "AsYy5d/sI8A3rnaxe261fo6YHjkj9U45g41F1SZp20k=",
}


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 20.0, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns a truthy value; fail with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


async def read_all(bootstrap: str, topic: str, *, expect: int, timeout: float = 20.0) -> list:
    """Read a topic (a broker name) from the beginning to its true end with the kernel's group-less reader,
    again until at least ``expect`` records are there or ``timeout`` passed; returns what the last read saw."""
    records: list = []
    deadline = time.monotonic() + timeout
    while True:
        async with TopicReader(bootstrap, timeout_s=min(10.0, timeout), client_id="cxc-tests") as reader:
            if topic in await reader.topics():
                tps = await reader.partitions([topic])
                ends = await reader.end_offsets(tps)
                starts = await reader.start_offsets(tps, beginning=True, ends=ends)
                records = [m async for m in reader.read(starts, ends)]
        if len(records) >= expect or time.monotonic() > deadline:
            return records
        await asyncio.sleep(0.2)


def participant_registered(pid: str, cluster: str = "pole-scs", country: str = "PL") -> ParticipantRegistered:
    return ParticipantRegistered(
        participant_id=pid,
        profile=Profile(cluster_id=cluster, kind="sme", name=f"Company {pid}", country=country),
        registered_at=datetime.now(UTC),
    )
