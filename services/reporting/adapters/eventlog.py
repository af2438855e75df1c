"""Reading the event history without a consumer group: the topics (for rebuilds and the live stream) and
the services' outboxes (the retained history when the broker's log is gone)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.events import EventDecodeError, decode
from shared.events.envelope import Envelope
from shared.messaging.kafka import bounded, close_quietly
from shared.messaging.namespace import NO_NAMESPACE, Namespace

log = logging.getLogger(__name__)

Positions = dict


class LogTruncated(RuntimeError):
    """The broker no longer holds a topic from its first event (retention deleted the start)."""


def groupless_consumer(bootstrap: str, timeout_s: float, client_id: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, client_id=client_id, enable_auto_commit=False,
        auto_offset_reset="earliest", request_timeout_ms=int(timeout_s * 1000) + 5000,
    )


async def partitions(consumer: AIOKafkaConsumer, topics: list[str], timeout_s: float) -> list[TopicPartition]:
    existing = await bounded(consumer.topics(), timeout_s, "metadata")
    return [TopicPartition(t, p) for t in topics if t in existing for p in sorted(consumer.partitions_for_topic(t) or ())]


class TopicHistory:
    """The topics from their first offset: ``read`` applies every decodable event up to the offsets the
    broker reports as the end when it is called, and returns where it stopped, to resume from there."""

    def __init__(self, bootstrap: str, topics: list[str], timeout_s: float = 10.0, allow_truncated: bool = False,
                 namespace: Namespace = NO_NAMESPACE) -> None:
        self.bootstrap, self.topics, self.timeout_s = bootstrap, namespace.topics(topics), timeout_s
        self.allow_truncated = allow_truncated
        self.skipped = 0

    async def read(self, apply: Callable[[Envelope], None], since: Positions | None = None) -> Positions:
        consumer = groupless_consumer(self.bootstrap, self.timeout_s, "reporting-rebuild")
        await bounded(consumer.start(), self.timeout_s * 3, "rebuild consumer start")
        try:
            tps = await partitions(consumer, self.topics, self.timeout_s)
            if not tps:
                return dict(since or {})
            consumer.assign(tps)
            firsts = await bounded(consumer.beginning_offsets(tps), self.timeout_s, "beginning offsets")
            ends = await bounded(consumer.end_offsets(tps), self.timeout_s, "end offsets")
            if since is None:
                truncated = {f"{tp.topic}[{tp.partition}]": off for tp, off in firsts.items() if off > 0}
                if truncated and not self.allow_truncated:
                    raise LogTruncated(f"the broker no longer holds these partitions from offset 0: {truncated}")
            for tp in tps:
                consumer.seek(tp, (since or {}).get(tp, firsts[tp]))
            position = {tp: (since or {}).get(tp, firsts[tp]) for tp in tps}
            # Read to the end as it is now. ListOffsets is only a lower bound (the embedded Tansu broker
            # answers with the base offset of the last batch); fetch responses carry the true high
            # watermark, and two empty fetches in a row at it mean there is nothing more to read.
            quiet = 0
            while quiet < 2:
                batches = await bounded(consumer.getmany(timeout_ms=300, max_records=1000), self.timeout_s, "fetch")
                for tp, records in batches.items():
                    for record in records:
                        self._apply(apply, record.value, f"{tp.topic}[{tp.partition}]@{record.offset}", record.headers)
                        position[tp] = record.offset + 1
                behind = any(position[tp] < max(ends[tp], consumer.highwater(tp) or 0) for tp in tps)
                quiet = 0 if batches or behind else quiet + 1
            return position
        finally:
            await close_quietly(consumer, self.timeout_s, "rebuild consumer")

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
    consumer = groupless_consumer(bootstrap, timeout_s, "reporting-stream")
    await bounded(consumer.start(), timeout_s * 3, "stream consumer start")
    try:
        tps = await partitions(consumer, namespace.topics(topics), timeout_s)
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end now, so that everything published after this yield is seen
            await bounded(consumer.position(tp), timeout_s, "stream position")
        # The embedded broker's "end" can be the start of the last batch: skip what was already there.
        while await consumer.getmany(timeout_ms=200, max_records=1000):
            pass
        yield "", None
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=200)
            if not batches:
                yield "", None  # a heartbeat, so the caller can notice a gone client
            for tp, records in batches.items():
                for record in records:
                    topic = namespace.local(tp.topic) or tp.topic
                    try:
                        yield topic, decode(record.value, record.headers)
                    except EventDecodeError:
                        yield topic, None
    finally:
        await close_quietly(consumer, timeout_s, "stream consumer")
