from __future__ import annotations

import json

import asyncpg

from shared.events.catalogue import Profile


async def upsert(conn: asyncpg.Connection, participant_id: str, p: Profile) -> None:
    await conn.execute(
        """INSERT INTO profiles (participant_id, cluster_id, kind, name, country, sectors, keywords, offers, requests)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb)
           ON CONFLICT (participant_id) DO UPDATE SET
               cluster_id = EXCLUDED.cluster_id, kind = EXCLUDED.kind, name = EXCLUDED.name,
               country = EXCLUDED.country, sectors = EXCLUDED.sectors, keywords = EXCLUDED.keywords,
               offers = EXCLUDED.offers, requests = EXCLUDED.requests, updated_at = now()""",
        participant_id, p.cluster_id, p.kind, p.name, p.country, list(p.sectors), list(p.keywords),
        json.dumps([o.model_dump() for o in p.offers]), json.dumps([r.model_dump() for r in p.requests]),
    )


async def delete(conn: asyncpg.Connection, participant_id: str) -> None:
    await conn.execute("DELETE FROM profiles WHERE participant_id = $1", participant_id)


async def get(conn: asyncpg.Connection, participant_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM profiles WHERE participant_id = $1", participant_id)


async def count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM profiles")


async def meets_cluster(conn: asyncpg.Connection, participant_id: str, cluster_id: str) -> bool:
    """Whether ``participant_id`` takes part in an activity together with a participant of ``cluster_id``."""
    return await conn.fetchval(
        """SELECT EXISTS (
               SELECT 1 FROM activity_participants mine
               JOIN activity_participants theirs ON theirs.activity_id = mine.activity_id
               JOIN profiles p ON p.participant_id::text = mine.participant_id
               WHERE theirs.participant_id = $1 AND p.cluster_id = $2)""",
        participant_id, cluster_id,
    )
