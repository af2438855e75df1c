"""Reading what the services published: a topic from its beginning to its true end, with the kernel's
group-less reader (shared/messaging/reader.py), as the tests check events on the broker."""

from __future__ import annotations

import asyncio
import time

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
