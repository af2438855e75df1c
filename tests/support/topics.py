"""Producing events as the relay does, and reading what the services published: a topic from its beginning to its true end, with the kernel's
group-less reader (shared/messaging/reader.py), as the tests check events on the broker."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaProducer

from shared.events import encode
from shared.messaging.namespace import NO_NAMESPACE, Namespace
from shared.messaging.reader import TopicReader


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


async def produce(bootstrap: str, envelopes, *, linger_ms: int = 50, namespace: Namespace = NO_NAMESPACE) -> None:
    """Produce envelopes as the relay does (in ``namespace``), in order; a linger makes the producer batch them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=linger_ms)
    await producer.start()
    try:
        sends = []
        for env in envelopes:
            key, value, headers = encode(env)
            sends.append(await producer.send(namespace.topic(env.topic.name), value, key=key, headers=headers))
        await asyncio.gather(*sends)
    finally:
        await producer.stop()
