"""The reporting schema's projection tables: writes from events, reads for the scoreboard."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from shared.events.catalogue import ParticipantErased, ParticipantRegistered, ParticipantUpdated


async def mark_applied(conn: asyncpg.Connection, event_time: datetime) -> None:
    await conn.execute(
        """UPDATE projection_state SET events_applied = events_applied + 1,
               last_event_time = GREATEST(last_event_time, $1)""",
        event_time,
    )


async def participant_registered(conn: asyncpg.Connection, e: ParticipantRegistered) -> None:
    await conn.execute(
        """INSERT INTO participants (id, cluster_id, kind, country, registered_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (id) DO NOTHING""",
        e.participant_id, e.profile.cluster_id, e.profile.kind, e.profile.country, e.registered_at,
    )


async def participant_updated(conn: asyncpg.Connection, e: ParticipantUpdated) -> None:
    await conn.execute(
        "UPDATE participants SET kind = $2, country = $3 WHERE id = $1", e.participant_id, e.profile.kind, e.profile.country
    )


async def participant_erased(conn: asyncpg.Connection, e: ParticipantErased) -> None:
    # Counts stay (anonymous); the projection never held contact data.
    await conn.execute("UPDATE participants SET erased = true WHERE id = $1", e.participant_id)


async def participant_kpis(conn: asyncpg.Connection, cluster: str | None) -> dict:
    rows = await conn.fetch(
        """SELECT cluster_id, kind, country, count(*) AS n FROM participants
           WHERE $1::text IS NULL OR cluster_id = $1 GROUP BY GROUPING SETS ((cluster_id), (kind), (country))""",
        cluster,
    )

    def by(col: str) -> dict[str, int]:
        return {r[col].strip(): r["n"] for r in sorted(rows, key=lambda r: -r["n"]) if r[col] is not None}

    by_cluster = by("cluster_id")
    return {"total": sum(by_cluster.values()), "by_kind": by("kind"), "by_country": by("country"), "by_cluster": by_cluster}


async def as_of(conn: asyncpg.Connection) -> dict:
    row = await conn.fetchrow("SELECT events_applied, last_event_time FROM projection_state")
    return {
        "last_event_time": row["last_event_time"].isoformat() if row["last_event_time"] else None,
        "events_applied": row["events_applied"],
    }
