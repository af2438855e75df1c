"""Webhook subscriptions: create (capped, idempotent), list, get, delete, rotate the secret.

``scope`` below is what a caller may touch: a partner's cluster id (only hooks of that cluster), or None
for coordinators and ops (every hook).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

import asyncpg

# The refusals create raises are the domain's (the handlers catch them without knowing this module).
from services.notifications.domain.subscriptions import CapReached, IdempotencyKeyReused

_COLUMNS = "id, cluster_id, owner_cluster_id, url, event_types, secret, previous_secret, previous_secret_until, " \
           "created_by, created_at, secret_rotated_at"


@dataclass(frozen=True)
class Created:
    row: asyncpg.Record
    new: bool  # False: an earlier create of the same hook (or the same Idempotency-Key) is answered again
    secret: str | None  # returned once: the generated secret, or again to the create's own retry


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


async def create(
    conn: asyncpg.Connection, *, cluster_id: str | None, owner_cluster_id: str, url: str, event_types: list[str],
    secret: str, generated: bool, created_by: str, cap: int, idempotency_key: str | None, fingerprint: str,
) -> Created:
    """Caller owns the transaction. One transaction per owner at a time (advisory lock), so the cap and the
    duplicate checks cannot be raced by concurrent creates."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('webhooks:' || $1, 0))", owner_cluster_id)
    if idempotency_key is not None:
        await conn.execute("DELETE FROM webhook_idempotency WHERE created_at < now() - interval '1 day'")
        seen = await conn.fetchrow(
            "SELECT * FROM webhook_idempotency WHERE api_key_id = $1 AND idem_key = $2", created_by, idempotency_key
        )
        if seen is not None:
            if seen["fingerprint"] != fingerprint:
                raise IdempotencyKeyReused
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM webhook_subscriptions WHERE id = $1",
                                      seen["subscription_id"])
            again = row["secret"] if seen["secret_sha256"] == _digest(row["secret"]) else None
            return Created(row, new=False, secret=again)
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM webhook_subscriptions
            WHERE owner_cluster_id = $1 AND cluster_id IS NOT DISTINCT FROM $2 AND url = $3 AND event_types = $4""",
        owner_cluster_id, cluster_id, url, event_types,
    )
    created = Created(row, new=False, secret=None) if row is not None else None
    if created is None:
        count = await conn.fetchval("SELECT count(*) FROM webhook_subscriptions WHERE owner_cluster_id = $1",
                                    owner_cluster_id)
        if count >= cap:
            raise CapReached
        row = await conn.fetchrow(
            f"""INSERT INTO webhook_subscriptions (id, cluster_id, owner_cluster_id, url, event_types, secret, created_by)
                VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}""",
            uuid.uuid4(), cluster_id, owner_cluster_id, url, event_types, secret, created_by,
        )
        created = Created(row, new=True, secret=secret if generated else None)
    if idempotency_key is not None:
        await conn.execute(
            """INSERT INTO webhook_idempotency (api_key_id, idem_key, fingerprint, subscription_id, secret_sha256)
               VALUES ($1, $2, $3, $4, $5)""",
            created_by, idempotency_key, fingerprint, created.row["id"],
            _digest(created.secret) if created.secret else None,
        )
    return created


async def list_for(conn: asyncpg.Connection, scope: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_COLUMNS} FROM webhook_subscriptions WHERE ($1::text IS NULL OR cluster_id = $1) "
        "ORDER BY created_at, id",
        scope,
    )


async def get(conn: asyncpg.Connection, subscription_id: uuid.UUID, scope: str | None) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM webhook_subscriptions WHERE id = $1 AND ($2::text IS NULL OR cluster_id = $2)",
        subscription_id, scope,
    )


async def delete(conn: asyncpg.Connection, subscription_id: uuid.UUID, scope: str | None) -> bool:
    """Remove the hook and cancel what was still planned for it (sends under way find it gone)."""
    deleted = await conn.fetchval(
        "DELETE FROM webhook_subscriptions WHERE id = $1 AND ($2::text IS NULL OR cluster_id = $2) RETURNING true",
        subscription_id, scope,
    )
    if deleted:
        await conn.execute(
            """UPDATE deliveries SET status = 'cancelled', last_error = 'webhook subscription removed'
               WHERE channel = 'webhook' AND recipient = $1 AND status = 'planned'""",
            str(subscription_id),
        )
    return bool(deleted)


async def rotate(conn: asyncpg.Connection, subscription_id: uuid.UUID, scope: str | None, new_secret: str,
                 overlap_s: float) -> asyncpg.Record | None:
    """The new secret signs from now on; the old one adds a second signature for ``overlap_s``."""
    return await conn.fetchrow(
        f"""UPDATE webhook_subscriptions
            SET previous_secret = secret, previous_secret_until = now() + make_interval(secs => $4),
                secret = $3, secret_rotated_at = now()
            WHERE id = $1 AND ($2::text IS NULL OR cluster_id = $2) RETURNING {_COLUMNS}""",
        subscription_id, scope, new_secret, overlap_s,
    )


async def signing_secrets(conn: asyncpg.Connection, subscription_id: str) -> tuple[str, list[str]] | None:
    """(url, secrets to sign with: the current one first, then the previous one while it is honoured)."""
    row = await conn.fetchrow(
        """SELECT url, secret, CASE WHEN previous_secret_until > now() THEN previous_secret END AS previous
           FROM webhook_subscriptions WHERE id = $1::uuid""",
        subscription_id,
    )
    if row is None:
        return None
    return row["url"], [row["secret"]] + ([row["previous"]] if row["previous"] else [])
