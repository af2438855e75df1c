"""Matchmaking's reactions to events; each runs inside the consumer's transaction."""

from __future__ import annotations

import asyncpg

from services.matchmaking.adapters import profiles
from shared.events.envelope import Envelope


async def profile_changed(conn: asyncpg.Connection, envelope: Envelope) -> None:
    e = envelope.payload()
    await profiles.upsert(conn, e.participant_id, e.profile)


async def participant_erased(conn: asyncpg.Connection, envelope: Envelope) -> None:
    await profiles.delete(conn, envelope.payload().participant_id)


HANDLERS = {
    "participant.registered": profile_changed,
    "participant.updated": profile_changed,
    "participant.erased": participant_erased,
}
