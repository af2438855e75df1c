"""SQL for the registration schema. Functions take a connection so callers own the transaction."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg



async def add_cluster(conn: asyncpg.Connection, cid: str, name: str, country: str, city: str) -> bool:
    status = await conn.execute(
        "INSERT INTO clusters (id, name, country, city) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
        cid, name, country, city,
    )
    return status.endswith(" 1")


async def list_clusters(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch("SELECT id, name, country, city FROM clusters ORDER BY id")]


async def cluster_exists(conn: asyncpg.Connection, cid: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM clusters WHERE id = $1", cid))


async def insert_participant(conn: asyncpg.Connection, pid: uuid.UUID, cluster_id: str, p: dict[str, Any]) -> asyncpg.Record:
    row = await conn.fetchrow(
        """INSERT INTO participants (id, cluster_id, external_ref, kind, name, country, city, employees, website,
                                     sectors, keywords, offers, requests, marketing_consent)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13::jsonb, $14)
           ON CONFLICT (cluster_id, external_ref) DO NOTHING
           RETURNING *""",
        pid, cluster_id, p.get("external_ref"), p["kind"], p["name"], p["country"], p.get("city"),
        p.get("employees"), p.get("website"), p["sectors"], p["keywords"],
        json.dumps(p["offers"]), json.dumps(p["requests"]), p["consent"]["marketing"],
    )
    if row is not None:
        c = p["contact"]
        await conn.execute(
            "INSERT INTO participant_contacts (participant_id, name, email, phone, language) VALUES ($1, $2, $3, $4, $5)",
            pid, c["name"], c["email"], c.get("phone"), c.get("language", "en"),
        )
    return row


async def participant_by_ref(conn: asyncpg.Connection, cluster_id: str, external_ref: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM participants WHERE cluster_id = $1 AND external_ref = $2", cluster_id, external_ref
    )


async def get_participant(conn: asyncpg.Connection, pid: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT p.*, c.name AS contact_name, c.email AS contact_email, c.phone AS contact_phone,
                  c.language AS contact_language
           FROM participants p LEFT JOIN participant_contacts c ON c.participant_id = p.id WHERE p.id = $1""",
        pid,
    )
