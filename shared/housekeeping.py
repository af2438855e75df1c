"""Housekeeping: one periodic job per service that deletes the runtime rows nobody needs any more.

What goes, and why that never breaks deduplication or rebuilds:
- Published outbox rows created more than ``CXC_OUTBOX_RETENTION_DAYS`` ago. By ``created_at``, not
  ``published_at``: ``cxc run`` replays whole outboxes by resetting ``published_at``, which would make old
  rows look young again. Unpublished rows are never touched, however old: they are writes still owed to
  the broker.
- Processed-event markers (``processed_events``) older than ``CXC_PROCESSED_EVENTS_RETENTION_DAYS``. A marker
  is what makes a consumer skip a redelivered event, so it must outlive every way that event can come
  again: the outbox row that may be published again (settings refuse a marker retention below the outbox
  retention plus a margin), the dead letter ``cxc dlq replay`` may re-publish (it refuses events older
  than the marker horizon unless forced), and the committed offsets of the consumer groups (Kafka's
  ``offsets.retention.minutes`` must exceed the horizon, or a group that lost its offsets re-reads the
  topics from the start and re-applies what it has forgotten; see the README's Housekeeping section).
- What a service adds itself (``Service.housekeeping``): registration's expired idempotency keys.

Never pruned: reporting's ``applied_events``. It is the projection itself and the set a rebuild checks its
history against (services/reporting/rebuild.py). So a rebuild from the outboxes refuses, once outbox rows
older than the projection's events are gone, rather than silently dropping them: ``--source outboxes``
covers the outbox retention only, ``--source topics`` the whole log (the topics keep it forever).

Each delete is one bounded batch (``CXC_HOUSEKEEPING_BATCH_SIZE`` rows) in its own short statement, oldest
rows first through an index, so no lock is held for long and writers are never blocked behind a sweep.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg

from shared import metrics
from shared.periodic import run_periodically
from shared.settings import ServiceSettings

if TYPE_CHECKING:
    from shared.service import Service

log = logging.getLogger(__name__)

MARKER_RETENTION_VAR = "CXC_PROCESSED_EVENTS_RETENTION_DAYS"


@dataclass(frozen=True)
class Pruning:
    """One kind of expired row: ``prune(conn, limit)`` deletes at most ``limit`` of them and says how many."""

    table: str
    prune: Callable[[asyncpg.Connection, int], Awaitable[int]]


async def prune_outbox(conn: asyncpg.Connection, older_than: timedelta, limit: int) -> int:
    deleted = await conn.fetch(
        """DELETE FROM outbox WHERE position IN (
               SELECT position FROM outbox
               WHERE published_at IS NOT NULL AND created_at < now() - $1::interval
               ORDER BY created_at LIMIT $2)
           RETURNING 1""",
        older_than, limit,
    )
    return len(deleted)


async def prune_markers(conn: asyncpg.Connection, older_than: timedelta, limit: int) -> int:
    deleted = await conn.fetch(
        """DELETE FROM processed_events WHERE (consumer, event_id) IN (
               SELECT consumer, event_id FROM processed_events
               WHERE processed_at < now() - $1::interval
               ORDER BY processed_at LIMIT $2)
           RETURNING 1""",
        older_than, limit,
    )
    return len(deleted)


def runtime_prunings(settings: ServiceSettings, *, publishes: bool) -> list[Pruning]:
    """The rows of the shared runtime tables that expire (outbox only for services that publish)."""
    outbox_age = timedelta(days=settings.outbox_retention_days)
    marker_age = timedelta(days=settings.processed_events_retention_days)
    prunings = [Pruning("processed_events", lambda conn, limit: prune_markers(conn, marker_age, limit))]
    if publishes:
        prunings.insert(0, Pruning("outbox", lambda conn, limit: prune_outbox(conn, outbox_age, limit)))
    return prunings


async def prune_all(pool: asyncpg.Pool, prunings: list[Pruning], *, service: str, batch_size: int) -> dict[str, int]:
    """Delete every expired row, batch after batch; return the count per table."""
    counts: dict[str, int] = {}
    for pruning in prunings:
        total = 0
        while True:
            async with pool.acquire() as conn:
                deleted = await pruning.prune(conn, batch_size)
            total += deleted
            metrics.HOUSEKEEPING_PRUNED.labels(service, pruning.table).inc(deleted)
            if deleted < batch_size:
                break
            await asyncio.sleep(0)  # let requests and consumers at the pool between batches
        counts[pruning.table] = total
    if any(counts.values()):
        log.info("housekeeping removed %s", ", ".join(f"{n} from {t}" for t, n in counts.items() if n))
    return counts


async def run_housekeeping(service: Service) -> None:
    """The service's housekeeping job: every ``CXC_HOUSEKEEPING_INTERVAL_S``, surviving failed rounds."""
    s = service.settings
    prunings = runtime_prunings(s, publishes=service.publishes) + list(service.housekeeping)

    async def round_() -> None:
        assert service.pool is not None
        await prune_all(service.pool, prunings, service=s.service, batch_size=s.housekeeping_batch_size)

    await run_periodically(f"{s.service}-housekeeping", round_, interval_s=s.housekeeping_interval_s)


def marker_horizon(environ: Mapping[str, str] = os.environ) -> timedelta:
    """How long consumers remember applied events, for tools that read no service settings (``cxc dlq``)."""
    raw = environ.get(MARKER_RETENTION_VAR, "").strip()
    days = float(raw) if raw else ServiceSettings.model_fields["processed_events_retention_days"].default
    if days <= 0:
        raise ValueError(f"{MARKER_RETENTION_VAR} must be a positive number of days")
    return timedelta(days=days)
