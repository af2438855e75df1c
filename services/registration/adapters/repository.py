"""SQL for the registration schema. Functions take a connection so callers own the transaction;
``Repository`` binds the ones handlers use to the unit of work's connection (``uow.repo``)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from services.registration.domain import exchange


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
    return await conn.fetchrow(f"{_PARTICIPANT} WHERE p.id = $1", pid)


async def cluster(conn: asyncpg.Connection, cid: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT id, name, country, city FROM clusters WHERE id = $1", cid)


# --- idempotency ---------------------------------------------------------------------------------


async def claim_idempotency_key(conn: asyncpg.Connection, api_key_id: str, key: str, fingerprint: str) -> asyncpg.Record | None:
    """Claim the key in the caller's transaction; return the stored response if it was claimed before.

    A concurrent claim of the same key waits on the primary key until the first transaction ends: after a
    commit it finds the stored response, after a rollback it claims the key itself."""
    claimed = await conn.fetchval(
        """INSERT INTO idempotency_keys (api_key_id, idem_key, fingerprint) VALUES ($1, $2, $3)
           ON CONFLICT (api_key_id, idem_key) DO NOTHING RETURNING true""",
        api_key_id, key, fingerprint,
    )
    if claimed:
        return None
    return await conn.fetchrow(
        "SELECT fingerprint, status, body::text AS body, location FROM idempotency_keys WHERE api_key_id = $1 AND idem_key = $2",
        api_key_id, key,
    )


async def store_response(
    conn: asyncpg.Connection, api_key_id: str, key: str, status: int, body: Any, location: str | None,
    participant_id: uuid.UUID | None, participant_ids: list[uuid.UUID] | None = None,
) -> None:
    await conn.execute(
        """UPDATE idempotency_keys SET status = $3, body = $4::jsonb, location = $5, participant_id = $6,
               participant_ids = $7
           WHERE api_key_id = $1 AND idem_key = $2""",
        api_key_id, key, status, json.dumps(body), location, participant_id, participant_ids or None,
    )


async def forget_idempotency_keys(conn: asyncpg.Connection, older_than_hours: float, limit: int) -> int:
    """Delete at most ``limit`` of the oldest keys past their time (one housekeeping batch)."""
    status = await conn.execute(
        """DELETE FROM idempotency_keys WHERE (api_key_id, idem_key) IN (
               SELECT api_key_id, idem_key FROM idempotency_keys
               WHERE created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2)""",
        older_than_hours * 3600, limit,
    )
    return int(status.split()[-1])


# --- participants --------------------------------------------------------------------------------

_PARTICIPANT = """SELECT p.*, c.name AS contact_name, c.email AS contact_email, c.phone AS contact_phone,
                         c.language AS contact_language
                  FROM participants p LEFT JOIN participant_contacts c ON c.participant_id = p.id"""


async def lock_participant(conn: asyncpg.Connection, pid: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"{_PARTICIPANT} WHERE p.id = $1 FOR UPDATE OF p", pid)


async def list_participants(
    conn: asyncpg.Connection, *, cluster_id: str | None, kind: str | None, country: str | None,
    after: tuple[Any, uuid.UUID] | None, limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""{_PARTICIPANT}
            WHERE p.status <> 'erased'
              AND ($1::text IS NULL OR p.cluster_id = $1) AND ($2::text IS NULL OR p.kind = $2)
              AND ($3::text IS NULL OR p.country = $3)
              AND ($4::timestamptz IS NULL OR (p.created_at, p.id) > ($4, $5::uuid))
            ORDER BY p.created_at, p.id LIMIT $6""",
        cluster_id, kind, country, after[0] if after else None, after[1] if after else None, limit,
    )


async def update_participant(conn: asyncpg.Connection, pid: uuid.UUID, changes: dict[str, Any]) -> asyncpg.Record:
    columns = {k: v for k, v in changes.items() if k != "contact"}
    if columns:
        jsonb = {"offers", "requests"}
        sets = ", ".join(f"{k} = ${i}{'::jsonb' if k in jsonb else ''}" for i, k in enumerate(columns, start=2))
        values = [json.dumps(v) if k in jsonb else v for k, v in columns.items()]
        await conn.execute(f"UPDATE participants SET {sets}, updated_at = now() WHERE id = $1", pid, *values)
    if (c := changes.get("contact")) is not None:
        await conn.execute(
            "UPDATE participant_contacts SET name = $2, email = $3, phone = $4, language = $5 WHERE participant_id = $1",
            pid, c["name"], c["email"], c.get("phone"), c.get("language", "en"),
        )
    return await get_participant(conn, pid)


async def erase_participant(conn: asyncpg.Connection, pid: uuid.UUID) -> None:
    """Delete every copy of the participant's personal data this service holds, and the data key that
    sealed it in events (which shreds the copies in topics, dead letters and outboxes).

    Kept: the anonymous row (id, cluster, kind, country, size, sectors, status 'erased'), which exchanges
    and counts refer to and which is the tombstone that refuses later writes about this participant."""
    await conn.execute("DELETE FROM participant_keys WHERE participant_id = $1", pid)
    await conn.execute("DELETE FROM participant_contacts WHERE participant_id = $1", pid)
    await conn.execute(
        """UPDATE participants SET status = 'erased', name = NULL, external_ref = NULL, city = NULL, website = NULL,
               keywords = '{}', offers = '[]', requests = '[]', marketing_consent = false, updated_at = now()
           WHERE id = $1""",
        pid,
    )
    # Free text partners typed about the person's exchanges (goals, testimonial, a cancellation reason):
    # anything in it may name them, so none of it stays.
    await conn.execute(
        """UPDATE exchanges SET goals = '[erased]', testimonial = NULL,
               cancel_reason = CASE WHEN cancel_reason IS NULL THEN NULL ELSE '[erased]' END
           WHERE participant_id = $1""",
        pid,
    )
    # A stored response keeps answering retries, so a late retry cannot re-register or re-apply for an
    # erased person, but as 410 Gone with no body: not even the participant's id comes back.
    await conn.execute(
        "UPDATE idempotency_keys SET status = 410, body = NULL, location = NULL WHERE participant_id = $1", pid
    )
    # A batch response concerns many participants: only the erased one's item goes.
    rows = await conn.fetch(
        """SELECT api_key_id, idem_key, body::text AS body FROM idempotency_keys
           WHERE $1 = ANY(participant_ids) AND participant_id IS NULL AND body IS NOT NULL FOR UPDATE""",
        pid,
    )
    for row in rows:
        body = json.loads(row["body"])
        body["results"] = [
            {"index": item.get("index"), "status": 410, "problem": {"title": "Gone", "detail": "erased"}}
            if item.get("id") == str(pid) else item
            for item in body.get("results", [])
        ]
        await conn.execute(
            "UPDATE idempotency_keys SET body = $3::jsonb WHERE api_key_id = $1 AND idem_key = $2",
            row["api_key_id"], row["idem_key"], json.dumps(body),
        )


async def data_key(conn: asyncpg.Connection, pid: uuid.UUID, new_key: bytes) -> bytes:
    """The participant's data key, created with ``new_key`` if it has none yet (participants registered
    before events were sealed get theirs on their next event)."""
    await conn.execute(
        "INSERT INTO participant_keys (participant_id, data_key) VALUES ($1, $2) ON CONFLICT DO NOTHING", pid, new_key
    )
    return await conn.fetchval("SELECT data_key FROM participant_keys WHERE participant_id = $1", pid)


async def lookup_data_key(conn: asyncpg.Connection, pid: uuid.UUID) -> tuple[str | None, bytes | None]:
    """(participant status, data key) for the internal key lookup; (None, None) if unknown."""
    row = await conn.fetchrow(
        """SELECT p.status, k.data_key FROM participants p LEFT JOIN participant_keys k ON k.participant_id = p.id
           WHERE p.id = $1""",
        pid,
    )
    return (row["status"], row["data_key"]) if row else (None, None)


# --- activities ----------------------------------------------------------------------------------


async def insert_activity(conn: asyncpg.Connection, aid: uuid.UUID, a: dict[str, Any]) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO activities (id, kind, title, host_cluster_id, city, country, starts_on, ends_on, online,
                                   capacity, meetings)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb) RETURNING *""",
        aid, a["kind"], a["title"], a["host_cluster_id"], a.get("city"), a["country"], a["starts_on"], a["ends_on"],
        a["online"], a.get("capacity"), json.dumps(a["meetings"]) if a.get("meetings") else None,
    )


async def get_activity(conn: asyncpg.Connection, aid: uuid.UUID, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM activities WHERE id = $1{' FOR UPDATE' if lock else ''}", aid)


async def list_activities(conn: asyncpg.Connection, kind: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM activities WHERE $1::text IS NULL OR kind = $1 ORDER BY starts_on, id", kind
    )


async def count_activity_participants(conn: asyncpg.Connection, aid: uuid.UUID) -> int:
    return await conn.fetchval("SELECT count(*) FROM activity_participants WHERE activity_id = $1", aid)


async def join_activity(conn: asyncpg.Connection, aid: uuid.UUID, pid: uuid.UUID, unavailable: list) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """INSERT INTO activity_participants (activity_id, participant_id, unavailable) VALUES ($1, $2, $3::jsonb)
           ON CONFLICT DO NOTHING RETURNING *""",
        aid, pid, json.dumps(unavailable),
    )


# --- exchanges -----------------------------------------------------------------------------------


async def insert_exchange(conn: asyncpg.Connection, xid: uuid.UUID, x: dict[str, Any]) -> asyncpg.Record | None:
    """None when the participant already has an exchange that is not cancelled."""
    return await conn.fetchrow(
        """INSERT INTO exchanges (id, participant_id, sending_cluster_id, host_cluster_id, activity_id, kind,
                                  start_date, end_date, working_days, goals)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (participant_id) WHERE status <> 'cancelled' DO NOTHING RETURNING *""",
        xid, x["participant_id"], x["sending_cluster_id"], x["host_cluster_id"], x.get("activity_id"), x["kind"],
        x["start_date"], x["end_date"], x["working_days"], x["goals"],
    )


async def get_exchange(conn: asyncpg.Connection, xid: uuid.UUID, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM exchanges WHERE id = $1{' FOR UPDATE' if lock else ''}", xid)


async def open_exchange_of(conn: asyncpg.Connection, pid: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM exchanges WHERE participant_id = $1 AND status = ANY($2::text[]) FOR UPDATE",
        pid, sorted(exchange.OPEN),
    )


async def list_exchanges(conn: asyncpg.Connection, *, cluster_id: str | None, status: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM exchanges
           WHERE ($1::text IS NULL OR sending_cluster_id = $1 OR host_cluster_id = $1)
             AND ($2::text IS NULL OR status = $2)
           ORDER BY created_at, id LIMIT 1000""",
        cluster_id, status,
    )


async def set_exchange(conn: asyncpg.Connection, xid: uuid.UUID, **values: Any) -> asyncpg.Record:
    sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(values, start=2))
    return await conn.fetchrow(
        f"UPDATE exchanges SET {sets}, updated_at = now() WHERE id = $1 RETURNING *", xid, *values.values()
    )


# --- programme administration (clusters, keys) ----------------------------------------------------


async def update_cluster(conn: asyncpg.Connection, cid: str, changes: dict[str, Any]) -> asyncpg.Record | None:
    allowed = [k for k in ("name", "country", "city") if k in changes]
    sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(allowed, start=2)) or "id = id"
    return await conn.fetchrow(
        f"UPDATE clusters SET {sets} WHERE id = $1 RETURNING id, name, country, city",
        cid, *(changes[k] for k in allowed),
    )


async def api_key(conn: asyncpg.Connection, key_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    try:
        kid = uuid.UUID(str(key_id))
    except ValueError:
        return None
    return await conn.fetchrow(
        f"""SELECT id, cluster_id, role, prefix, label, created_at, revoked_at FROM api_keys WHERE id = $1
            {'FOR UPDATE' if lock else ''}""",
        kid,
    )


async def active_coordinator_keys(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM api_keys WHERE role = 'coordinator' AND revoked_at IS NULL")


async def put_programme(conn: asyncpg.Connection, name: str, coordinator_cluster_id: str) -> str:
    """Create or update the one programme row; return 'created', 'updated' or 'unchanged'."""
    row = await conn.fetchrow("SELECT name, coordinator_cluster_id FROM programme FOR UPDATE")
    if row is None:
        await conn.execute("INSERT INTO programme (name, coordinator_cluster_id) VALUES ($1, $2)",
                           name, coordinator_cluster_id)
        return "created"
    if (row["name"], row["coordinator_cluster_id"]) == (name, coordinator_cluster_id):
        return "unchanged"
    await conn.execute("UPDATE programme SET name = $1, coordinator_cluster_id = $2, updated_at = now()",
                       name, coordinator_cluster_id)
    return "updated"


class Repository:
    """The queries a handler may run, bound to one transaction's connection. The in-memory fake handler unit
    tests use (tests/support/registration.py) has the same methods."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def cluster_exists(self, cid: str) -> bool:
        return await cluster_exists(self.conn, cid)

    async def cluster(self, cid: str) -> asyncpg.Record | None:
        return await cluster(self.conn, cid)

    async def insert_participant(self, pid: uuid.UUID, cluster_id: str, p: dict[str, Any]) -> asyncpg.Record | None:
        return await insert_participant(self.conn, pid, cluster_id, p)

    async def participant_by_ref(self, cluster_id: str, external_ref: str) -> asyncpg.Record | None:
        return await participant_by_ref(self.conn, cluster_id, external_ref)

    async def get_participant(self, pid: uuid.UUID, *, lock: bool = False) -> asyncpg.Record | None:
        return await (lock_participant if lock else get_participant)(self.conn, pid)

    async def list_participants(self, **filters: Any) -> list[asyncpg.Record]:
        return await list_participants(self.conn, **filters)

    async def update_participant(self, pid: uuid.UUID, changes: dict[str, Any]) -> asyncpg.Record:
        return await update_participant(self.conn, pid, changes)

    async def erase_participant(self, pid: uuid.UUID) -> None:
        await erase_participant(self.conn, pid)

    async def data_key(self, pid: uuid.UUID, new_key: bytes) -> bytes:
        return await data_key(self.conn, pid, new_key)

    async def insert_activity(self, aid: uuid.UUID, a: dict[str, Any]) -> asyncpg.Record:
        return await insert_activity(self.conn, aid, a)

    async def get_activity(self, aid: uuid.UUID, *, lock: bool = False) -> asyncpg.Record | None:
        return await get_activity(self.conn, aid, lock=lock)

    async def list_activities(self, kind: str | None) -> list[asyncpg.Record]:
        return await list_activities(self.conn, kind)

    async def count_activity_participants(self, aid: uuid.UUID) -> int:
        return await count_activity_participants(self.conn, aid)

    async def join_activity(self, aid: uuid.UUID, pid: uuid.UUID, unavailable: list) -> asyncpg.Record | None:
        return await join_activity(self.conn, aid, pid, unavailable)

    async def insert_exchange(self, xid: uuid.UUID, x: dict[str, Any]) -> asyncpg.Record | None:
        return await insert_exchange(self.conn, xid, x)

    async def get_exchange(self, xid: uuid.UUID, *, lock: bool = False) -> asyncpg.Record | None:
        return await get_exchange(self.conn, xid, lock=lock)

    async def open_exchange_of(self, pid: uuid.UUID) -> asyncpg.Record | None:
        return await open_exchange_of(self.conn, pid)

    async def list_exchanges(self, *, cluster_id: str | None, status: str | None) -> list[asyncpg.Record]:
        return await list_exchanges(self.conn, cluster_id=cluster_id, status=status)

    async def set_exchange(self, xid: uuid.UUID, **values: Any) -> asyncpg.Record:
        return await set_exchange(self.conn, xid, **values)
