from __future__ import annotations

import asyncpg

from shared.events.envelope import Envelope


async def add(conn: asyncpg.Connection, e: Envelope) -> None:
    await conn.execute(
        """INSERT INTO received_events (event_id, event_type, subject, correlation_id, event_time)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
        e.id, e.type, e.subject, e.correlation_id, e.time,
    )


async def forget_subject(conn: asyncpg.Connection, subject: str) -> None:
    await conn.execute("DELETE FROM received_events WHERE subject = $1", subject)


async def list_for(conn: asyncpg.Connection, subject: str | None, event_id: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM received_events WHERE ($1::text IS NULL OR subject = $1)
           AND ($2::uuid IS NULL OR event_id = $2) ORDER BY received_at LIMIT 500""",
        subject, event_id,
    )
