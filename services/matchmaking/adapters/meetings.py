from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

OPEN = ("pending", "accepted")


async def create(conn: asyncpg.Connection, activity_id: str, requester_id: str, target_id: str,
                 message: str | None, expires_at: datetime) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO meetings (meeting_id, activity_id, requester_id, target_id, message, status, expires_at)
           VALUES ($1, $2, $3, $4, $5, 'pending', $6) RETURNING *""",
        uuid.uuid4(), activity_id, requester_id, target_id, message, expires_at,
    )


async def get(conn: asyncpg.Connection, meeting_id: uuid.UUID, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM meetings WHERE meeting_id = $1{' FOR UPDATE' if lock else ''}", meeting_id)


async def open_between(conn: asyncpg.Connection, activity_id: str, a: str, b: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT * FROM meetings WHERE activity_id = $1 AND status = ANY($4::text[])
             AND least(requester_id, target_id) = least($2::text, $3::text)
             AND greatest(requester_id, target_id) = greatest($2::text, $3::text) FOR UPDATE""",
        activity_id, a, b, list(OPEN),
    )


async def declined_partners(conn: asyncpg.Connection, activity_id: str, participant_id: str) -> set[str]:
    rows = await conn.fetch(
        """SELECT CASE WHEN requester_id = $2 THEN target_id ELSE requester_id END AS other FROM meetings
           WHERE activity_id = $1 AND status = 'declined' AND $2 IN (requester_id, target_id)""",
        activity_id, participant_id,
    )
    return {r["other"] for r in rows}


async def pending_count(conn: asyncpg.Connection, participant_id: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM meetings WHERE status = 'pending' AND requester_id = $1", participant_id
    )


async def decide(conn: asyncpg.Connection, meeting_id: uuid.UUID, status: str, *, mutual: bool | None = None) -> asyncpg.Record:
    return await conn.fetchrow(
        """UPDATE meetings SET status = $2, decided_at = now(), mutual = coalesce($3, mutual)
           WHERE meeting_id = $1 RETURNING *""",
        meeting_id, status, mutual,
    )


async def due_for_expiry(conn: asyncpg.Connection, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Pending requests past their expiry, locked and skipped by concurrent sweepers (several replicas)."""
    return await conn.fetch(
        """SELECT * FROM meetings WHERE status = 'pending' AND expires_at <= $1
           ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
        now, limit,
    )


async def accepted(conn: asyncpg.Connection, activity_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM meetings WHERE activity_id = $1 AND status = 'accepted' ORDER BY meeting_id", activity_id
    )


async def schedule_version(conn: asyncpg.Connection, activity_id: str) -> int:
    """Next schedule version of the activity; the row lock serialises concurrent schedule runs."""
    return await conn.fetchval(
        """INSERT INTO schedules (activity_id, version) VALUES ($1, 1)
           ON CONFLICT (activity_id) DO UPDATE SET version = schedules.version + 1, run_at = now()
           RETURNING version""",
        activity_id,
    )


async def set_placement(conn: asyncpg.Connection, meeting_id: uuid.UUID, version: int, slot: int | None,
                        table: int | None, starts_at: datetime | None, ends_at: datetime | None) -> None:
    await conn.execute(
        """UPDATE meetings SET slot = $3, table_no = $4, starts_at = $5, ends_at = $6, schedule_version = $2
           WHERE meeting_id = $1""",
        meeting_id, version, slot, table, starts_at, ends_at,
    )


async def agenda(conn: asyncpg.Connection, activity_id: str, participant_id: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM meetings WHERE activity_id = $1 AND status = 'accepted' AND starts_at IS NOT NULL
             AND ($2::text IS NULL OR $2 IN (requester_id, target_id))
           ORDER BY starts_at, table_no NULLS LAST, meeting_id""",
        activity_id, participant_id,
    )


async def record_feedback(conn: asyncpg.Connection, meeting_id: uuid.UUID, participant_id: str, rating: str) -> bool:
    """False when this participant already rated this meeting (the first rating stands)."""
    status = await conn.execute(
        """INSERT INTO meeting_feedback (meeting_id, participant_id, rating) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING""",
        meeting_id, participant_id, rating,
    )
    return status == "INSERT 0 1"


async def feedback(conn: asyncpg.Connection, meeting_id: uuid.UUID) -> dict[str, str]:
    rows = await conn.fetch("SELECT participant_id, rating FROM meeting_feedback WHERE meeting_id = $1", meeting_id)
    return {r["participant_id"]: r["rating"] for r in rows}


async def mark_held(conn: asyncpg.Connection, meeting_id: uuid.UUID) -> bool:
    status = await conn.execute("UPDATE meetings SET held = true WHERE meeting_id = $1 AND NOT held", meeting_id)
    return status == "UPDATE 1"


async def forget_messages_of(conn: asyncpg.Connection, participant_id: str) -> None:
    await conn.execute(
        "UPDATE meetings SET message = NULL WHERE (requester_id = $1 OR target_id = $1) AND message IS NOT NULL",
        participant_id,
    )
