"""Transactional outbox: ``record`` inside the caller's transaction, ``OutboxRelay`` publishes.

Guarantees:
- An event is in the outbox iff the state change that caused it committed (same transaction).
- The relay publishes rows in ``position`` order, so one aggregate's events reach its partition in the
  order they were committed; a row is marked published only after the broker acknowledged it (acks=all).
- While the broker is away the relay keeps the rows and retries with backoff; nothing is lost. After a
  failure a row may be published again (at-least-once): consumers deduplicate by event id.
- Among replicas of a service exactly one relays at a time (a PostgreSQL advisory lock), which is what
  keeps the order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time

import asyncpg
from aiokafka import AIOKafkaProducer

from shared import correlation, metrics
from shared.events import EventData, new_envelope
from shared.events.envelope import Envelope, kafka_headers, upgrade_json
from shared.messaging.kafka import bounded, close_quietly, new_producer
from shared.messaging.namespace import NO_NAMESPACE, Namespace
from shared.retry import RetryPolicy

log = logging.getLogger(__name__)

# Database or broker away: full-jitter backoff from 0.2 s, at most 5 s, for ever (rows are kept meanwhile).
RELAY_RETRY = RetryPolicy(base_s=0.2, cap_s=5.0)


async def record(
    conn: asyncpg.Connection,
    payload: EventData,
    *,
    source: str,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> Envelope:
    """Add an event to the outbox within the caller's open transaction.

    Ids not passed explicitly come from the bound correlation context: the HTTP request's id, or the
    consumed event's correlation id (and its id as the causation id) while a consumer handler runs.
    """
    correlation_id, causation_id = correlation.defaults(correlation_id, causation_id)
    envelope = new_envelope(payload, source=source, correlation_id=correlation_id, causation_id=causation_id)
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, event_type, envelope) VALUES ($1, $2, $3, $4, $5::jsonb)",
        envelope.id,
        envelope.topic.name,
        envelope.subject,
        envelope.type,
        envelope.to_json().decode(),
    )
    return envelope


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        service: str,
        bootstrap: str,
        timeout_s: float = 10.0,
        poll_interval_s: float = 0.5,
        batch_size: int = 500,
        namespace: Namespace = NO_NAMESPACE,
    ) -> None:
        self.pool = pool
        self.namespace = namespace
        self.service = service
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        self.batch_size = batch_size
        self._wake = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._lock_key = int.from_bytes(hashlib.sha256(f"relay:{service}".encode()).digest()[:8], "big", signed=True)

    async def run(self) -> None:
        """Relay until cancelled. Waits for leadership, then drains the outbox as rows arrive."""
        backoff = RELAY_RETRY.backoff()
        while True:  # _lead returns only if it loses the lock's connection quietly: lead again
            await backoff.until_success(
                self._lead_once, retry_on=(OSError, asyncpg.PostgresError, asyncpg.InterfaceError), log=log,
                what="outbox relay lost its database connection")

    async def _lead_once(self) -> None:
        try:
            await self._lead()
        finally:
            await self._drop_producer()

    async def _lead(self) -> None:
        conn: asyncpg.Connection = await self.pool.acquire()
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key):
                await asyncio.sleep(max(self.poll_interval_s, 1.0))
            await conn.add_listener(f"{self.service}_outbox", self._on_notify)
            try:
                await self._drain_forever(conn)
            finally:
                with contextlib.suppress(Exception):
                    await conn.remove_listener(f"{self.service}_outbox", self._on_notify)
                with contextlib.suppress(Exception):
                    await conn.execute("SELECT pg_advisory_unlock($1)", self._lock_key)
        finally:
            await self.pool.release(conn)

    def _on_notify(self, *_args) -> None:
        self._wake.set()

    async def _drain_forever(self, conn: asyncpg.Connection) -> None:
        backoff = RELAY_RETRY.backoff()
        while True:
            self._wake.clear()
            try:
                published = await self.publish_batch(conn)
                backoff.reset()
            except (asyncpg.PostgresError, asyncpg.InterfaceError):
                raise  # the database side: run() reconnects
            except Exception as exc:  # broker away or slow: keep the rows, back off, start a fresh producer
                if conn.is_closed():
                    raise
                metrics.OUTBOX_ERRORS.labels(self.service).inc()
                delay = backoff.failed()
                log.warning("outbox relay could not publish (%s); retrying in %.1fs", exc, delay)
                await self._drop_producer()
                await asyncio.sleep(delay)
                continue
            if published < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)

    async def _get_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = new_producer(self.bootstrap, f"{self.service}-relay", self.timeout_s)
            try:
                await bounded(producer.start(), self.timeout_s, "relay producer start")
            except BaseException:
                await close_quietly(producer, self.timeout_s, "relay producer")
                raise
            self._producer = producer
        return self._producer

    async def _drop_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await close_quietly(producer, self.timeout_s, "relay producer")

    async def publish_batch(self, conn: asyncpg.Connection) -> int:
        """Publish the oldest unpublished rows; return how many were published."""
        # The stored JSON is sent as it is (no re-validation per row: it was validated when recorded), except
        # that a row recorded with the old attribute names goes out with the current ones. The ce_* headers
        # are derived from the very body that is sent.
        rows = await conn.fetch(
            """SELECT position, topic, key, event_type, envelope::text AS value, created_at
               FROM outbox WHERE published_at IS NULL ORDER BY position LIMIT $1""",
            self.batch_size,
        )
        self._observe_pending(rows, await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        if not rows:
            return 0
        producer = await self._get_producer()

        async def send_all() -> None:
            # send() only enqueues (it waits only while the client's buffer is full); the futures it
            # returns resolve on the broker's acks. One bound covers the whole batch.
            acks = []
            for row in rows:
                value, body = upgrade_json(row["value"])
                acks.append(await producer.send(self.namespace.topic(row["topic"]), value, key=row["key"].encode(),
                                                headers=kafka_headers(body)))
            await asyncio.gather(*acks)

        await bounded(send_all(), self.timeout_s, f"publishing {len(rows)} events")
        await conn.execute(
            "UPDATE outbox SET published_at = now() WHERE position = ANY($1::bigint[])", [r["position"] for r in rows]
        )
        metrics.OUTBOX_PUBLISHED.labels(self.service).inc(len(rows))
        for row in rows:
            metrics.EVENTS_PUBLISHED.labels(self.service, row["event_type"]).inc()
        metrics.OUTBOX_LAST_PUBLISHED.labels(self.service).set(time.time())
        return len(rows)

    def _observe_pending(self, rows, pending: int) -> None:
        metrics.OUTBOX_PENDING.labels(self.service).set(pending)
        age = (time.time() - rows[0]["created_at"].timestamp()) if rows else 0.0
        metrics.OUTBOX_OLDEST_PENDING_AGE.labels(self.service).set(age)
