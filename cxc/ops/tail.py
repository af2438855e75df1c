"""``cxc tail``: follow the event streams live, filtered, pretty or as JSON lines."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import aclosing
from datetime import datetime

from shared.events.topics import TOPICS
from shared.messaging.namespace import NO_NAMESPACE, Namespace
from cxc.ops.render import Output
from shared.messaging.reader import Filter, TopicReader


async def tail(
    bootstrap: str, topics: list[str] | None, out: Output, *, keep: Filter | None = None, offset: int | None = None,
    since: datetime | None = None, beginning: bool = False, follow: bool = True, limit: int | None = None,
    ready: Callable[[], None] | None = None, timeout_s: float = 10.0, namespace: Namespace = NO_NAMESPACE,
) -> int:
    """Print matching events; return how many. Starts from now unless an offset, a time or the beginning
    is given; stops after ``limit`` matches, or at the current end when not following."""
    shown = 0
    async with TopicReader(bootstrap, timeout_s=timeout_s, namespace=namespace) as streams:
        if not topics:
            existing = await streams.topics()
            topics = [t for t in TOPICS if t in existing]
            if not topics:
                where = f"{bootstrap} in topic namespace {namespace.prefix!r}" if namespace else bootstrap
                raise LookupError(f"no registry topic exists on {where} (cxc topics create makes them)")
        tps = await streams.partitions(topics)
        ends = await streams.end_offsets(tps)
        starts = await streams.start_offsets(tps, offset=offset, since=since, beginning=beginning, ends=ends)
        where = "the beginning" if beginning else f"offset {offset}" if offset is not None else (
            since.isoformat() if since else "now")
        out.note(f"[dim]{'following' if follow else 'reading'} {', '.join(topics)} from {where}[/dim]")
        if ready is not None:
            ready()
        async with aclosing(streams.read(starts, None if follow else ends)) as messages:
            async for message in messages:
                if keep is not None and not keep(message):
                    continue
                out.message(message)
                shown += 1
                if limit is not None and shown >= limit:
                    break
    return shown
