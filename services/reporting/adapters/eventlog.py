"""Reading the event history without a consumer group: the topics (for rebuilds and the live stream) and
the services' outboxes (the retained history when the broker's log is gone)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import asyncpg

from shared.events import EventDecodeError, decode
from shared.events.envelope import Envelope
from shared.messaging.namespace import NO_NAMESPACE, Namespace
from shared.messaging.reader import TopicReader

log = logging.getLogger(__name__)

Positions = dict


class LogTruncated(RuntimeError):
    """The broker no longer holds a topic from its first event (retention deleted the start)."""


class TopicHistory:
    """The topics from their first offset: ``read`` applies every decodable event up to the true end offsets
    when it is called, and returns where it stopped, to resume from there. Read with the kernel's group-less
    ``TopicReader`` (true ends from a fetch highwater, not ListOffsets)."""

    def __init__(self, bootstrap: str, topics: list[str], timeout_s: float = 10.0, allow_truncated: bool = False,
                 namespace: Namespace = NO_NAMESPACE) -> None:
        self.bootstrap, self.topics, self.timeout_s, self.ns = bootstrap, list(topics), timeout_s, namespace
        self.allow_truncated = allow_truncated
        self.skipped = 0

    async def read(self, apply: Callable[[Envelope], None], since: Positions | None = None) -> Positions:
        async with TopicReader(self.bootstrap, timeout_s=self.timeout_s, namespace=self.ns,
                               client_id="reporting-rebuild") as reader:
            existing = await reader.topics()
            tps = await reader.partitions([t for t in self.topics if t in existing])
            if not tps:
                return dict(since or {})
            ends = await reader.end_offsets(tps)
            firsts = await reader.start_offsets(tps, beginning=True, ends=ends)
            if since is None:
                truncated = {f"{tp.topic}[{tp.partition}]": off for tp, off in firsts.items() if off > 0}
                if truncated and not self.allow_truncated:
                    raise LogTruncated(f"the broker no longer holds these partitions from offset 0: {truncated}")
            starts = {tp: (since or {}).get(tp, firsts[tp]) for tp in tps}
            async for message in reader.read(starts, ends):
                self._apply(apply, message.value, message.ref, message.headers)
            return {tp: max(starts[tp], ends[tp]) for tp in tps}

    def _apply(self, apply: Callable[[Envelope], None], value: bytes | None, where: str, headers=None) -> None:
        try:
            envelope = decode(value, headers)
        except EventDecodeError as exc:
            # The live consumer dead-letters these; a rebuild cannot apply them either.
            self.skipped += 1
            log.warning("rebuild skips undecodable event at %s: %s", where, exc)
            return
        apply(envelope)


class OutboxHistory:
    """Every service's outbox in this database: the full history each service ever published (rows are
    kept after publishing), independent of the broker's retention."""

    def __init__(self, conn: asyncpg.Connection, schemas: list[str]) -> None:
        self.conn, self.schemas = conn, schemas
        self.skipped = 0

    async def read(self, apply: Callable[[Envelope], None], since: Positions | None = None) -> Positions:
        position = dict(since or {})
        present = {r["table_schema"] for r in await self.conn.fetch(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox' AND table_schema = ANY($1)",
            self.schemas)}
        for schema in sorted(present):
            rows = await self.conn.fetch(
                f'SELECT position, envelope::text AS envelope FROM "{schema}".outbox WHERE position > $1 ORDER BY position',
                position.get(schema, 0),
            )
            for row in rows:
                try:
                    envelope = decode(row["envelope"].encode())
                except EventDecodeError as exc:
                    self.skipped += 1
                    log.warning("rebuild skips undecodable outbox row %s.%s: %s", schema, row["position"], exc)
                    continue
                apply(envelope)
                position[schema] = row["position"]
        return position


async def tail(bootstrap: str, topics: list[str], timeout_s: float = 10.0,
               namespace: Namespace = NO_NAMESPACE) -> AsyncIterator[tuple[str, Envelope | None]]:
    """Events as they arrive from now on: (topic, envelope), with ("", None) once positioned and then
    whenever nothing arrived for a second, and (topic, None) for an undecodable record. Topics are plain
    names, in and out."""
    async with TopicReader(bootstrap, timeout_s=timeout_s, namespace=namespace,
                           client_id="reporting-stream") as reader:
        existing = await reader.topics()
        tps = await reader.partitions([t for t in topics if t in existing])
        # From the true end now (a fetch highwater), so that everything published after this yield is seen
        # and nothing already there is.
        ends = await reader.end_offsets(tps)
        yield "", None
        if not tps:
            while True:  # nothing to follow yet; keep the client's heartbeat going
                await asyncio.sleep(1.0)
                yield "", None
        async for message in reader.read(ends, heartbeat_s=1.0):
            if message is None:
                yield "", None  # a heartbeat, so the caller can notice a gone client
                continue
            try:
                yield message.topic, decode(message.value, message.headers)
            except EventDecodeError:
                yield message.topic, None
