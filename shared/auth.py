"""API-key authentication, the same in every service: ``Authorization: Bearer <key>`` → cluster and role.

Keys are 32 random bytes shown once; only their SHA-256 digest is stored (a fast hash is enough: there is
no dictionary to brute-force) in the ``api_keys`` table of each service's schema. Registration issues keys
and publishes ``apikey.issued`` / ``apikey.revoked``; the other services apply those to their replica.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from shared.events.catalogue import ApiKeyIssued, ApiKeyRevoked
from shared.events.envelope import Envelope
from shared.messaging import outbox
from shared.problems import Problem

PREFIX = "cxc_"
ROLES = ("partner", "coordinator", "ops")


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class Caller:
    cluster_id: str
    role: str
    key_id: str

    def can_see(self, cluster_id: str) -> bool:
        """Partners see their own cluster only; coordinators and ops see the programme."""
        return self.role != "partner" or self.cluster_id == cluster_id


# --- the source: issuing and revoking (registration) ---------------------------------------------


async def issue_key(
    conn: asyncpg.Connection, cluster_id: str, role: str, label: str | None, *, source: str
) -> tuple[str, str]:
    """Store a new key's digest and publish it through the outbox; return (key id, key). Caller owns the
    transaction."""
    key, key_id = new_key(), str(uuid.uuid4())
    event = ApiKeyIssued(
        key_id=key_id, cluster_id=cluster_id, role=role, key_sha256=digest(key).hex(), prefix=key[:10], label=label
    )
    await _store(conn, event)
    await outbox.record(conn, event, source=source)
    return key_id, key


async def revoke_key(conn: asyncpg.Connection, key_id: str, *, source: str) -> bool:
    row = await conn.fetchrow(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING cluster_id", key_id
    )
    if row is None:
        return False
    await outbox.record(conn, ApiKeyRevoked(key_id=key_id, cluster_id=row["cluster_id"]), source=source)
    return True


async def list_keys(conn: asyncpg.Connection, cluster_id: str | None = None) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, cluster_id, role, prefix, label, created_at, revoked_at FROM api_keys
           WHERE $1::text IS NULL OR cluster_id = $1 ORDER BY created_at""",
        cluster_id,
    )


async def find_key(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, cluster_id, role FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL", digest(key)
    )


# --- the replicas: applying apikey.* events ------------------------------------------------------


async def _store(conn: asyncpg.Connection, e: ApiKeyIssued) -> None:
    await conn.execute(
        """INSERT INTO api_keys (id, cluster_id, role, key_hash, prefix, label) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (id) DO NOTHING""",
        e.key_id, e.cluster_id, e.role, bytes.fromhex(e.key_sha256), e.prefix, e.label,
    )


async def on_key_issued(conn: asyncpg.Connection, envelope: Envelope) -> None:
    await _store(conn, envelope.payload())


async def on_key_revoked(conn: asyncpg.Connection, envelope: Envelope) -> None:
    e = envelope.payload()
    # A revocation may overtake nothing (one partition, keyed by key id), but be safe if it arrives first.
    await conn.execute("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1", e.key_id)


KEY_REPLICA_HANDLERS = {"apikey.issued": on_key_issued, "apikey.revoked": on_key_revoked}


# --- FastAPI dependencies ------------------------------------------------------------------------

_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="clusterxchange"'}


async def caller(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Problem(401, "Send your API key as 'Authorization: Bearer <key>'", kind="unauthorized",
                      headers=_UNAUTHORIZED)
    async with request.app.state.service.pool.acquire() as conn:
        row = await find_key(conn, key.strip())
    if row is None:
        raise Problem(401, "The API key is unknown or revoked", kind="unauthorized", headers=_UNAUTHORIZED)
    who = Caller(cluster_id=row["cluster_id"], role=row["role"], key_id=str(row["id"]))
    request.state.caller = who
    return who


def require(*roles: str):
    async def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if who.role not in roles:
            raise Problem(403, f"The {who.role} role cannot do this", kind="forbidden")
        return who

    return check


CallerDep = Annotated[Caller, Depends(caller)]
WriterDep = Annotated[Caller, Depends(require("partner", "coordinator"))]
CoordinatorDep = Annotated[Caller, Depends(require("coordinator"))]
OpsDep = Annotated[Caller, Depends(require("coordinator", "ops"))]
