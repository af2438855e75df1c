"""Event handlers of the reporting projection; each runs inside the consumer's transaction."""

from __future__ import annotations

import asyncpg

from services.reporting.adapters import projection
from services.reporting.domain.facts import PROJECTED_TYPES
from shared.events.envelope import Envelope


async def apply(conn: asyncpg.Connection, envelope: Envelope) -> None:
    await projection.apply(conn, envelope)


async def apply_batch(conn: asyncpg.Connection, envelopes: list[Envelope]) -> None:
    await projection.apply_many(conn, envelopes)


HANDLERS = {event_type: apply for event_type in PROJECTED_TYPES}
