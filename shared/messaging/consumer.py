"""Consumer runner: idempotent handling, offsets committed after the database, dead letters.

Guarantees:
- Each handler runs in one transaction with the insert of ``(consumer, event_id)`` into
  ``processed_events``; if the marker exists the event was already applied and the handler is skipped.
  Redelivery, rebalances, replays and a broker that forgot its log therefore change nothing.
- Offsets are committed only after the transactions of the messages before them committed (no
  auto-commit), and on partition revocation, so a crash re-delivers rather than loses.
- A message that cannot be decoded, or whose handler keeps failing after bounded retries with
  backoff, goes to ``<topic>.dlq`` with the original key, value and headers plus ``cxc_error_*``
  headers, and the consumer moves on.
- When the database or broker stays unreachable past the retry bound the runner raises
  ``ConsumerStalled``: the process exits non-zero and its supervisor restarts it, instead of hanging.
- A statement that runs too long (PostgreSQL's ``statement_timeout``, or the client's command timeout
  while the database still answers a probe) is this message's problem, not an outage: it is retried with
  backoff and then dead-lettered like any failing handler. Restarting would only run it again, forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from shared import correlation, metrics
from shared.events import EventDecodeError, decode
from shared.events.envelope import Envelope
from shared.messaging.kafka import bounded, close_quietly, new_producer
from shared.messaging.namespace import NO_NAMESPACE, Namespace
from shared.retry import RetryPolicy

log = logging.getLogger(__name__)

Handler = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]
BatchHandler = Callable[[asyncpg.Connection, list[Envelope]], Awaitable[None]]

# Errors that say "the infrastructure is away or broken", not "this message is bad".
INFRA_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    # SQLSTATE class 42 (undefined table/column, privileges): the code or schema is wrong, not this
    # message; dead-lettering would sweep the whole stream into the DLQ, so stall and get restarted.
    asyncpg.SyntaxOrAccessError,
)


# A statement cancelled for running too long: server-side statement_timeout (SQLSTATE 57014) or asyncpg's
# client-side command timeout (TimeoutError). Which of them is the message's fault is decided per case.
_SLOW_STATEMENT_ERRORS: tuple[type[BaseException], ...] = (asyncpg.QueryCanceledError, TimeoutError)


class ConsumerStalled(RuntimeError):
    """The consumer cannot make progress; the process should exit non-zero."""


class Rejected(Exception):
    """Raised by a handler for a message it refuses as it stands (e.g. a bad signature): retrying cannot
    change the verdict, so the message is dead-lettered at once (stage ``rejected``)."""


class _SlowStatement(Exception):
    """A statement of the handler's transaction was cancelled for taking too long (``__cause__``): the
    server's statement timeout, or the client's command timeout. Not raised for waiting on the pool."""


class _CommitOnRevoke(ConsumerRebalanceListener):
    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked) -> None:
        await self.runner.commit(only=set(revoked))
        self.runner.forget(revoked)
        if revoked:
            self.runner.assigned = False
            self.runner.state = "waiting for partition assignment (rebalancing)"

    async def on_partitions_assigned(self, assigned) -> None:
        self.runner.assigned = True
        self.runner.state = f"assigned {len(assigned)} partitions"
        log.info("%s assigned %s", self.runner.name, sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))


class ConsumerRunner:
    def __init__(
        self,
        name: str,
        pool: asyncpg.Pool,
        handlers: Mapping[str, Handler],
        *,
        topics: list[str],
        bootstrap: str,
        timeout_s: float = 10.0,
        max_retries: int = 5,
        retry_base_s: float = 0.1,
        session_timeout_ms: int = 10_000,
        max_records: int = 200,
        batch: bool = False,
        batch_handler: BatchHandler | None = None,
        statement_timeout_s: float | None = None,
        namespace: Namespace = NO_NAMESPACE,
    ) -> None:
        self.name = name
        # Topics and the group as the broker knows them; record.topic (and so each dead letter's topic) is
        # the namespaced name too.
        self.namespace = namespace
        self.pool = pool
        self.handlers = dict(handlers)
        self.topics = topics
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.retry_base_s = retry_base_s
        # A message's retries and an outage's waits: the one policy (shared/retry.py), full jitter, 5 s cap.
        self.retry = RetryPolicy(base_s=min(retry_base_s, 5.0), cap_s=5.0)
        self.session_timeout_ms = session_timeout_ms
        self.max_records = max_records
        self.batch = batch
        # Optional: applies a batch's fresh envelopes (in offset order) in one call, e.g. with bulk SQL.
        # The per-event handlers stay the reference and serve the one-by-one fallback.
        self.batch_handler = batch_handler
        # Server-side bound on each statement of a handler's transaction (SET LOCAL statement_timeout), so a
        # slow statement fails cleanly instead of holding its locks until the client gives up.
        self.statement_timeout_s = statement_timeout_s
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq_producer = None
        self._processed: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self.assigned = False  # joined its group and got partitions: what readiness waits for
        self.state = "not started"  # what it is doing or waiting for, in words (/readyz)

    async def run(self) -> None:
        """Consume until cancelled (graceful: commits what was processed) or stalled (raises)."""
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.namespace.group(self.name),
            client_id=self.name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=max(self.session_timeout_ms // 5, 500),
            request_timeout_ms=int(max(self.timeout_s * 1000, self.session_timeout_ms + 5000)),
            metadata_max_age_ms=30_000,
        )
        self._dlq_producer = new_producer(self.bootstrap, f"{self.name}-dlq", self.timeout_s)
        try:
            self.state = "connecting to the broker"
            await bounded(self._consumer.start(), self.timeout_s * 3, f"{self.name} consumer start")
            await bounded(self._dlq_producer.start(), self.timeout_s, f"{self.name} DLQ producer start")
            self._consumer.subscribe(self.namespace.topics(self.topics), listener=_CommitOnRevoke(self))
            self.state = "waiting for partition assignment"
            while True:
                batches = await self._consumer.getmany(timeout_ms=500, max_records=self.max_records)
                for tp, records in batches.items():
                    if self.batch:
                        await self._handle_batch(records)
                        self._processed[tp] = records[-1].offset + 1
                        continue
                    for record in records:
                        await self._handle(record)
                        self._processed[tp] = record.offset + 1
                await self.commit()
                self._observe_lag()
        finally:
            try:
                await self.commit()
            except Exception as exc:
                log.warning("%s: final commit failed: %s", self.name, exc)
            await close_quietly(self._consumer, self.timeout_s, f"{self.name} consumer")
            await close_quietly(self._dlq_producer, self.timeout_s, f"{self.name} DLQ producer")

    async def commit(self, only: set[TopicPartition] | None = None) -> None:
        if self._consumer is None:
            return
        offsets = {
            tp: OffsetAndMetadata(off, "")
            for tp, off in self._processed.items()
            if self._committed.get(tp) != off and (only is None or tp in only)
        }
        if not offsets:
            return
        try:
            await bounded(self._consumer.commit(offsets), self.timeout_s, f"{self.name} commit")
        except (CommitFailedError, IllegalStateError) as exc:
            # The group moved on (rebalance): the new owner re-delivers, and dedupe makes that harmless.
            log.warning("%s: offsets not committed after a rebalance: %s", self.name, exc)
            self.forget(offsets)
            return
        except Exception as exc:
            raise ConsumerStalled(f"{self.name}: cannot commit offsets: {exc}") from exc
        self._committed.update({tp: o.offset for tp, o in offsets.items()})

    def forget(self, partitions) -> None:
        for tp in list(partitions):
            self._processed.pop(tp, None)
            self._committed.pop(tp, None)

    async def _handle(self, record: ConsumerRecord) -> None:
        try:
            envelope = self._decode(record)
        except EventDecodeError as exc:
            await self._dead_letter(record, exc, stage="decode")
            return
        # While the handler runs, events it records are caused by this one and share its correlation id.
        with correlation.bound(envelope.correlation_id, event_id=envelope.id, event_type=envelope.type):
            await self._handle_envelope(record, envelope)

    async def _handle_envelope(self, record: ConsumerRecord, envelope: Envelope) -> None:
        labels = (self.name, record.topic)
        handler = self.handlers.get(envelope.type)
        if handler is None:
            metrics.CONSUMER_EVENTS.labels(*labels, "ignored").inc()
            metrics.EVENTS_CONSUMED.labels(self.name, envelope.type, "ignored").inc()
            return
        infra_failures = 0
        attempt = 0
        while True:
            try:
                applied = await self._apply(handler, envelope, record)
            except _SlowStatement as slow:
                # Cancelled by the statement timeout, or no answer within the command timeout. If the database
                # answers a trivial query now, the statement (this message) is the problem; if not, an outage.
                exc = slow.__cause__ or slow
                if await self._database_answers():
                    attempt += 1
                    if await self._failed(record, envelope, exc, attempt):
                        return
                    continue
                infra_failures += 1
                if infra_failures > self.max_retries:
                    raise ConsumerStalled(f"{self.name}: database unreachable: {exc!r}") from exc
                await self._backoff(infra_failures, exc, envelope)
                continue
            except INFRA_ERRORS as exc:
                infra_failures += 1
                if infra_failures > self.max_retries:
                    raise ConsumerStalled(f"{self.name}: database unreachable or schema broken: {exc!r}") from exc
                await self._backoff(infra_failures, exc, envelope)
                continue
            except asyncio.CancelledError:
                raise
            except Rejected as exc:
                metrics.EVENTS_FAILED.labels(self.name, envelope.type).inc()
                await self._dead_letter(record, exc, stage="rejected", envelope=envelope)
                return
            except Exception as exc:
                attempt += 1
                if await self._failed(record, envelope, exc, attempt):
                    return
                continue
            metrics.CONSUMER_EVENTS.labels(*labels, "applied" if applied else "duplicate").inc()
            metrics.EVENTS_CONSUMED.labels(self.name, envelope.type, "applied" if applied else "duplicate").inc()
            metrics.CONSUMER_LAST_PROCESSED.labels(self.name).set(time.time())
            metrics.CONSUMER_LAST_EVENT_TIME.labels(self.name).set(envelope.time.timestamp())
            return

    async def _failed(self, record: ConsumerRecord, envelope: Envelope, exc: BaseException, attempt: int) -> bool:
        """The message's own failure number ``attempt``: back off for a retry, or dead-letter it past the
        bound (then True: the runner moves on)."""
        metrics.EVENTS_FAILED.labels(self.name, envelope.type).inc()
        if attempt > self.max_retries:
            await self._dead_letter(record, exc, stage="handler", envelope=envelope, attempts=attempt)
            return True
        metrics.CONSUMER_RETRIES.labels(self.name, record.topic).inc()
        await self._backoff(attempt, exc, envelope)
        return False

    @staticmethod
    def _decode(record: ConsumerRecord) -> Envelope:
        """An event we can apply: valid envelope and payload, keyed by its aggregate id (the key is what
        keeps one aggregate's events in order, so a message without it breaks the contract)."""
        envelope = decode(record.value, record.headers)
        if record.key is None or record.key.decode(errors="replace") != envelope.subject:
            raise EventDecodeError(f"Kafka key {record.key!r} is not the event's subject {envelope.subject!r}")
        return envelope

    async def _handle_batch(self, records: list[ConsumerRecord]) -> None:
        """One partition's batch in one transaction: one bulk insert of dedupe markers, then the handlers in
        offset order. Same guarantees as one-by-one, far fewer commits. If anything in the batch fails,
        the transaction rolls back and the batch is replayed one message at a time, which isolates the
        poison message (retries, dead letter) without losing or doubling the others."""
        todo: list[tuple[ConsumerRecord, Envelope]] = []
        for record in records:
            try:
                envelope = self._decode(record)
            except EventDecodeError as exc:
                await self._dead_letter(record, exc, stage="decode")
                continue
            if envelope.type not in self.handlers:
                metrics.CONSUMER_EVENTS.labels(self.name, record.topic, "ignored").inc()
                metrics.EVENTS_CONSUMED.labels(self.name, envelope.type, "ignored").inc()
                continue
            todo.append((record, envelope))
        if not todo:
            return
        try:
            async with self.pool.acquire(timeout=self.timeout_s) as conn, conn.transaction():
                await self._bound_statements(conn)
                fresh = {
                    str(r["event_id"])
                    for r in await conn.fetch(
                        """INSERT INTO processed_events
                               (consumer, event_id, event_type, topic, kafka_partition, kafka_offset)
                           SELECT $1, e, t, $2, p, o
                           FROM unnest($3::uuid[], $4::text[], $5::int[], $6::bigint[]) AS u(e, t, p, o)
                           ON CONFLICT DO NOTHING RETURNING event_id""",
                        self.name, todo[0][0].topic, [e.id for _, e in todo], [e.type for _, e in todo],
                        [r.partition for r, _ in todo], [r.offset for r, _ in todo],
                    )
                }
                applied = 0
                outcomes = []
                fresh_envelopes = []
                for _, envelope in todo:
                    if envelope.id in fresh:
                        fresh.discard(envelope.id)  # a duplicate inside the same batch applies once
                        fresh_envelopes.append(envelope)
                        applied += 1
                        outcomes.append((envelope.type, "applied"))
                    else:
                        outcomes.append((envelope.type, "duplicate"))
                if self.batch_handler is not None:
                    await self.batch_handler(conn, fresh_envelopes)
                else:
                    for envelope in fresh_envelopes:
                        with correlation.bound(envelope.correlation_id, event_id=envelope.id, event_type=envelope.type):
                            await self.handlers[envelope.type](conn, envelope)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: batch of %d failed (%r); replaying it one by one", self.name, len(todo), exc)
            for record, _ in todo:
                await self._handle(record)
            return
        metrics.CONSUMER_EVENTS.labels(self.name, todo[0][0].topic, "applied").inc(applied)
        metrics.CONSUMER_EVENTS.labels(self.name, todo[0][0].topic, "duplicate").inc(len(todo) - applied)
        for event_type, outcome in outcomes:
            metrics.EVENTS_CONSUMED.labels(self.name, event_type, outcome).inc()
        metrics.CONSUMER_LAST_PROCESSED.labels(self.name).set(time.time())
        metrics.CONSUMER_LAST_EVENT_TIME.labels(self.name).set(todo[-1][1].time.timestamp())

    async def _apply(self, handler: Handler, envelope: Envelope, record: ConsumerRecord) -> bool:
        async with self.pool.acquire(timeout=self.timeout_s) as conn:
            try:
                return await self._apply_in_transaction(conn, handler, envelope, record)
            except _SLOW_STATEMENT_ERRORS as exc:
                raise _SlowStatement() from exc

    async def _apply_in_transaction(
        self, conn: asyncpg.Connection, handler: Handler, envelope: Envelope, record: ConsumerRecord
    ) -> bool:
        async with conn.transaction():
            await self._bound_statements(conn)
            fresh = await conn.fetchval(
                """INSERT INTO processed_events (consumer, event_id, event_type, topic, kafka_partition, kafka_offset)
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true""",
                self.name,
                envelope.id,
                envelope.type,
                record.topic,
                record.partition,
                record.offset,
            )
            if not fresh:
                return False
            await handler(conn, envelope)
            return True

    async def _bound_statements(self, conn: asyncpg.Connection) -> None:
        if self.statement_timeout_s is not None:
            await conn.execute(f"SET LOCAL statement_timeout = {max(int(self.statement_timeout_s * 1000), 1)}")

    async def _database_answers(self) -> bool:
        probe_s = min(self.timeout_s, 5.0)
        try:
            async with self.pool.acquire(timeout=probe_s) as conn:
                await conn.fetchval("SELECT 1", timeout=probe_s)
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: the database does not answer a probe either (%r)", self.name, exc)
            return False

    async def _backoff(self, attempt: int, exc: BaseException, envelope: Envelope) -> None:
        delay = self.retry.delay(attempt)
        log.warning("%s: %s %s failed (%r); retry %d in %.2fs", self.name, envelope.type, envelope.id, exc, attempt, delay)
        await asyncio.sleep(delay)

    async def _dead_letter(
        self, record: ConsumerRecord, exc: BaseException, *, stage: str, envelope: Envelope | None = None,
        attempts: int | None = None,
    ) -> None:
        headers = list(record.headers or ()) + [
            ("cxc_error_stage", stage.encode()),
            ("cxc_error_class", type(exc).__name__.encode()),
            ("cxc_error_message", str(exc)[:2000].encode()),
            ("cxc_error_trace", "".join(traceback.format_exception(exc))[-4000:].encode()),
            # The plain name: `cxc dlq replay` maps it into the namespace it replays in.
            ("cxc_original_topic", (self.namespace.local(record.topic) or record.topic).encode()),
            ("cxc_original_partition", str(record.partition).encode()),
            ("cxc_original_offset", str(record.offset).encode()),
            ("cxc_consumer", self.name.encode()),
            ("cxc_failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        if attempts is not None:
            headers.append(("cxc_error_attempts", str(attempts).encode()))
        log.error(
            "%s: dead-lettering %s[%d]@%d (%s): %s",
            self.name, record.topic, record.partition, record.offset, envelope.type if envelope else "undecodable", exc,
        )
        try:
            sent = await bounded(
                self._dlq_producer.send(f"{record.topic}.dlq", record.value, key=record.key, headers=headers),
                self.timeout_s,
                "DLQ send",
            )
            await bounded(sent, self.timeout_s, "DLQ ack")
        except Exception as dlq_exc:
            raise ConsumerStalled(f"{self.name}: cannot write dead letter: {dlq_exc}") from dlq_exc
        metrics.CONSUMER_EVENTS.labels(self.name, record.topic, "dead_lettered").inc()
        metrics.EVENTS_CONSUMED.labels(self.name, envelope.type if envelope else "undecodable", "dead_lettered").inc()

    def _observe_lag(self) -> None:
        assert self._consumer is not None
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            position = self._processed.get(tp, self._committed.get(tp, highwater))
            labels = (self.name, tp.topic, str(tp.partition))
            metrics.CONSUMER_HIGHWATER.labels(*labels).set(highwater)
            metrics.CONSUMER_POSITION.labels(*labels).set(position)
            metrics.CONSUMER_LAG.labels(*labels).set(max(highwater - position, 0))
