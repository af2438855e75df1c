"""Notifications' reactions to events; each runs inside the consumer's transaction."""

from __future__ import annotations

import asyncpg

from services.notifications.adapters import inbox
from shared.events.envelope import Envelope


async def received(conn: asyncpg.Connection, envelope: Envelope) -> None:
    await inbox.add(conn, envelope)


async def participant_erased(conn: asyncpg.Connection, envelope: Envelope) -> None:
    await inbox.forget_subject(conn, envelope.subject)


HANDLERS = {
    "participant.registered": received,
    "participant.erased": participant_erased,
}
