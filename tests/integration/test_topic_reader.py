"""The kernel's group-less topic reader (shared/messaging/reader.py) on a real broker: the true end of a
batched partition, a follow read from there that sees only what comes after, heartbeats while idle, and no
consumer group left behind."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from shared.messaging.kafka import ensure_topics
from shared.messaging.reader import TopicReader

pytestmark = pytest.mark.integration


async def test_follow_from_the_true_end_with_heartbeats_and_no_group(kafka_bootstrap):
    topic = f"reader-test-{uuid.uuid4().hex[:10]}"
    await ensure_topics(kafka_bootstrap, [(topic, 1)])
    # One batch of 25 records: the embedded broker's ListOffsets reports less than the true end for it.
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False, linger_ms=200)
    await asyncio.wait_for(producer.start(), 20)
    try:
        await asyncio.wait_for(asyncio.gather(*[
            await producer.send(topic, f"old-{i}".encode(), key=b"k") for i in range(25)]), 20)
        async with TopicReader(kafka_bootstrap, timeout_s=10, client_id="reader-test") as reader:
            tps = await reader.partitions([topic])
            ends = await reader.end_offsets(tps)
            assert list(ends.values()) == [25]
            follow = reader.read(ends, heartbeat_s=0.3)
            try:
                assert await asyncio.wait_for(anext(follow), 10) is None  # nothing new yet: a heartbeat
                await asyncio.wait_for(producer.send_and_wait(topic, b"new", key=b"k"), 20)
                got = None
                while got is None:
                    got = await asyncio.wait_for(anext(follow), 10)
                assert (got.value, got.offset, got.topic) == (b"new", 25, topic)
            finally:
                await follow.aclose()
    finally:
        await producer.stop()

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await asyncio.wait_for(admin.start(), 20)
    try:
        groups = {g[0] for g in await asyncio.wait_for(admin.list_consumer_groups(), 20)}
    finally:
        await admin.close()
    assert "reader-test" not in groups and not any(topic in g for g in groups)
