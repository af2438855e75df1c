"""Event handlers of the reporting projection; each runs inside the consumer's transaction."""

from __future__ import annotations

import asyncpg

from services.reporting.adapters import projection
from shared.events.envelope import Envelope

_APPLY = {
    "participant.registered": projection.participant_registered,
    "participant.updated": projection.participant_updated,
    "participant.erased": projection.participant_erased,
}


async def apply(conn: asyncpg.Connection, envelope: Envelope) -> None:
    await _APPLY[envelope.type](conn, envelope.payload())
    await projection.mark_applied(conn, envelope.time)


HANDLERS = {event_type: apply for event_type in _APPLY}
