from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.events.catalogue import ParticipantRegistered, Profile

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
    """Read a topic from the beginning without a consumer group until ``expect`` records arrived."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = await eventually(lambda: _partitions(consumer, topic), timeout)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list = []
        deadline = time.monotonic() + timeout
        while len(records) < expect and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str):
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic)


def participant_registered(pid: str, cluster: str = "pole-scs", country: str = "PL") -> ParticipantRegistered:
    return ParticipantRegistered(
        participant_id=pid,
        profile=Profile(cluster_id=cluster, kind="sme", name=f"Company {pid}", country=country),
        registered_at=datetime.now(UTC),
    )
