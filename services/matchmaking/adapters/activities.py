from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from shared.events.catalogue import ActivityCreated, ActivityUpdated


async def upsert_created(conn: asyncpg.Connection, e: ActivityCreated) -> None:
    await conn.execute(
        """INSERT INTO activities (activity_id, kind, title, host_cluster_id, country, starts_on, ends_on, online, meetings)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
           ON CONFLICT (activity_id) DO UPDATE SET
               kind = EXCLUDED.kind, title = EXCLUDED.title, host_cluster_id = EXCLUDED.host_cluster_id,
               country = EXCLUDED.country, starts_on = EXCLUDED.starts_on, ends_on = EXCLUDED.ends_on,
               online = EXCLUDED.online, meetings = EXCLUDED.meetings, updated_at = now()""",
        e.activity_id, e.kind, e.title, e.host_cluster_id, e.country, e.starts_on, e.ends_on, e.online,
        e.meetings.model_dump_json() if e.meetings else None,
    )


async def apply_update(conn: asyncpg.Connection, e: ActivityUpdated) -> bool:
    status = await conn.execute(
        """UPDATE activities SET title = $2, starts_on = $3, ends_on = $4, online = $5, meetings = $6::jsonb,
               updated_at = now() WHERE activity_id = $1""",
        e.activity_id, e.title, e.starts_on, e.ends_on, e.online,
        e.meetings.model_dump_json() if e.meetings else None,
    )
    return status != "UPDATE 0"


async def join(conn: asyncpg.Connection, activity_id: str, participant_id: str,
               unavailable: tuple[tuple[datetime, datetime], ...]) -> None:
    periods = json.dumps([[a.isoformat(), b.isoformat()] for a, b in unavailable])
    await conn.execute(
        """INSERT INTO activity_participants (activity_id, participant_id, unavailable) VALUES ($1, $2, $3::jsonb)
           ON CONFLICT (activity_id, participant_id) DO UPDATE SET unavailable = EXCLUDED.unavailable""",
        activity_id, participant_id, periods,
    )


async def leave(conn: asyncpg.Connection, activity_id: str, participant_id: str) -> None:
    await conn.execute(
        "DELETE FROM activity_participants WHERE activity_id = $1 AND participant_id = $2", activity_id, participant_id
    )


async def leave_all(conn: asyncpg.Connection, participant_id: str) -> None:
    await conn.execute("DELETE FROM activity_participants WHERE participant_id = $1", participant_id)


async def exists(conn: asyncpg.Connection, activity_id: str) -> bool:
    return await conn.fetchval("SELECT true FROM activities WHERE activity_id = $1", activity_id) or False


async def get(conn: asyncpg.Connection, activity_id: str, *, lock: bool = False) -> dict | None:
    row = await conn.fetchrow(
        f"SELECT * FROM activities WHERE activity_id = $1{' FOR UPDATE' if lock else ''}", activity_id
    )
    if row is None:
        return None
    out = dict(row)
    out["meetings"] = json.loads(row["meetings"]) if row["meetings"] else None
    return out


async def participants(conn: asyncpg.Connection, activity_id: str) -> list[dict]:
    """The activity's participants that still have a profile, with their unavailable periods."""
    rows = await conn.fetch(
        """SELECT ap.participant_id, ap.unavailable, p.cluster_id, p.name, p.country, p.sectors, p.keywords,
                  p.offers, p.requests
           FROM activity_participants ap JOIN profiles p ON p.participant_id::text = ap.participant_id
           WHERE ap.activity_id = $1 ORDER BY ap.participant_id""",
        activity_id,
    )
    out = []
    for r in rows:
        d = dict(r)
        d["unavailable"] = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in json.loads(r["unavailable"])]
        d["offers"], d["requests"] = json.loads(r["offers"]), json.loads(r["requests"])
        d["country"] = r["country"].strip()
        out.append(d)
    return out


async def is_participant(conn: asyncpg.Connection, activity_id: str, participant_id: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT true FROM activity_participants WHERE activity_id = $1 AND participant_id = $2",
        activity_id, participant_id,
    ))
