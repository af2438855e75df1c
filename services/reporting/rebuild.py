"""Rebuild the projection from the retained history and swap it in atomically.

1. Fold the whole history (topics from offset 0, or every service's outbox) into fresh facts in memory,
   while the live consumer goes on.
2. In one transaction: lock the projection tables against writers (readers go on), read what arrived
   since step 1, check that the fresh facts hold every event the live projection holds (otherwise the
   history is incomplete, e.g. broker retention deleted old events, and the rebuild is refused unless
   forced), fill fresh tables and replace the live contents with them. Readers see the old projection
   until the commit and the rebuilt one after it; the live consumer resumes on the rebuilt tables.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg

from services.reporting.adapters import projection
from services.reporting.adapters.eventlog import OutboxHistory, TopicHistory
from services.reporting.domain.facts import PROJECTED_TYPES, FactBook
from services.reporting.settings import ReportingSettings
from shared.db import create_pool, migrate
from shared.events.envelope import Envelope
from shared.events.topics import TOPICS

log = logging.getLogger(__name__)

OUTBOX_SCHEMAS = ["registration", "matchmaking", "notifications", "reporting"]


def projected_topics() -> list[str]:
    return [t.name for t in TOPICS.values() if set(t.event_types) & set(PROJECTED_TYPES)]


class RebuildRefused(RuntimeError):
    pass


@dataclass
class RebuildResult:
    events: int
    aggregates: int
    skipped: int
    previous_events: int


def _folder(book: FactBook):
    def apply(envelope: Envelope) -> None:
        if envelope.type in PROJECTED_TYPES:
            book.apply(envelope.type, envelope.payload(), envelope.time, envelope.id)

    return apply


async def rebuild(settings: ReportingSettings, source: str = "topics", force: bool = False) -> RebuildResult:
    pool = await create_pool(settings.database_url, settings.db_schema, min_size=1, max_size=2)
    try:
        await migrate(pool, settings.db_schema, "services.reporting.migrations")
        async with pool.acquire() as conn:
            history = (TopicHistory(settings.kafka_bootstrap, projected_topics(), settings.broker_timeout_s,
                                    allow_truncated=force, namespace=settings.namespace)
                       if source == "topics" else OutboxHistory(conn, OUTBOX_SCHEMAS))
            book = FactBook()
            positions = await history.read(_folder(book))
            async with conn.transaction():
                await projection.lock(conn)
                await history.read(_folder(book), positions)
                live = {str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM applied_events")}
                missing = live - book.applied.keys()
                if missing and not force:
                    raise RebuildRefused(
                        f"the {source} hold {len(book.applied)} events but {len(missing)} events the live projection "
                        f"applied are not among them (e.g. {sorted(missing)[:3]}): the history is incomplete "
                        "(broker retention, or a broker that lost its log). Nothing was changed. "
                        "Use the other --source, or --force to accept the loss."
                    )
                await projection.replace_all(conn, book)
        return RebuildResult(
            events=book.events_applied, aggregates=sum(map(len, book.aggregates.values())),
            skipped=history.skipped, previous_events=len(live),
        )
    finally:
        await pool.close()
