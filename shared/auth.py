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


# --- the request side: who is calling ---------------------------------------------------------------
#
# Every route of every service needs a key unless it is marked ``@public(...)``: the gate (shared/gate.py),
# installed by the service runtime, authenticates each request before routing reaches a handler, so a new
# route is protected without doing anything. Handlers read the result through the dependencies below.

UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="clusterxchange"'}
SESSION_COOKIE = "cxc_session"
_SCOPE_KEY = "cxc.caller"
_MAX_KEY_LENGTH = 200


class Unauthenticated(Exception):
    """Credentials were offered but are malformed, unknown or revoked (a 401)."""


def public(reason: str, *, when: str | None = None):
    """Let a route be reached without a key; ``reason`` says why (health probe, signed link, ...).

    ``when`` names a boolean setting of the service that must be on, for routes that are public only by
    choice of the operator (the public scoreboard). A key offered to a public route is still checked, so
    the handler may answer a known caller differently (``OptionalCallerDep``)."""

    def mark(endpoint):
        endpoint.__cxc_public__ = (reason, when)
        return endpoint

    return mark


def public_reason(route, settings) -> str | None:
    """Why ``route`` is public under ``settings``, or None when it needs a key."""
    mark = getattr(getattr(route, "endpoint", None), "__cxc_public__", None)
    if mark is None:
        return None
    reason, when = mark
    if when is not None and not getattr(settings, when, False):
        return None
    return reason


def bearer_key(authorization: str) -> str:
    """The key of an ``Authorization: Bearer <key>`` header. Keys are short printable ASCII; anything else
    (another scheme, control or non-ASCII characters, a megabyte of padding) is refused before any lookup."""
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthenticated("Send your API key as 'Authorization: Bearer <key>'")
    if len(key) > _MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise Unauthenticated("The API key is unknown or revoked")
    return key


async def authenticate(conn: asyncpg.Connection, authorization: str | None, session: str | None) -> Caller | None:
    """The caller named by a bearer key or, failing that, a browser session cookie; None when neither was
    offered. Raises ``Unauthenticated`` for a bad key; a stale cookie counts as no credentials (the browser
    is simply signed out)."""
    if authorization is not None:
        row = await find_key(conn, bearer_key(authorization))
        if row is None:
            raise Unauthenticated("The API key is unknown or revoked")
        return Caller(cluster_id=row["cluster_id"], role=row["role"], key_id=str(row["id"]))
    if session and len(session) <= _MAX_KEY_LENGTH and session.isascii():
        row = await find_session(conn, session)
        if row is not None:
            return Caller(cluster_id=row["cluster_id"], role=row["role"], key_id=str(row["id"]))
    return None


def bind(scope: dict, who: Caller) -> None:
    scope[_SCOPE_KEY] = who


def bound(scope: dict) -> Caller | None:
    return scope.get(_SCOPE_KEY)


async def caller(request: Request) -> Caller:
    who = bound(request.scope)
    if who is None:
        # Only reachable from a route marked public that still asks for a caller.
        raise Problem(401, "Send your API key as 'Authorization: Bearer <key>'", kind="unauthorized",
                      headers=UNAUTHORIZED_HEADERS)
    request.state.caller = who
    return who


async def optional_caller(request: Request) -> Caller | None:
    return bound(request.scope)


# --- browser sessions: a key turned into an HttpOnly cookie ------------------------------------------


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def open_session(conn: asyncpg.Connection, key_id: str, ttl_s: float, *, kind: str = "session") -> str:
    token = secrets.token_urlsafe(32)
    await conn.execute(
        """INSERT INTO api_sessions (token_hash, key_id, kind, expires_at)
           VALUES ($1, $2, $3, now() + make_interval(secs => $4))""",
        _token_hash(token), uuid.UUID(key_id), kind, float(ttl_s),
    )
    return token


async def redeem_link(conn: asyncpg.Connection, token: str, session_ttl_s: float) -> str | None:
    """Exchange a one-time link token for a session token; None when unknown, used or expired."""
    if len(token) > _MAX_KEY_LENGTH or not token.isascii():
        return None
    key_id = await conn.fetchval(
        """DELETE FROM api_sessions s USING api_keys k
           WHERE s.token_hash = $1 AND s.kind = 'link' AND s.expires_at > now()
             AND k.id = s.key_id AND k.revoked_at IS NULL
           RETURNING s.key_id""",
        _token_hash(token),
    )
    return None if key_id is None else await open_session(conn, str(key_id), session_ttl_s)


async def find_session(conn: asyncpg.Connection, token: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT k.id, k.cluster_id, k.role FROM api_sessions s JOIN api_keys k ON k.id = s.key_id
           WHERE s.token_hash = $1 AND s.kind = 'session' AND s.expires_at > now() AND k.revoked_at IS NULL""",
        _token_hash(token),
    )


def require(*roles: str):
    async def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if who.role not in roles:
            raise Problem(403, f"The {who.role} role cannot do this", kind="forbidden")
        return who

    return check


CallerDep = Annotated[Caller, Depends(caller)]
OptionalCallerDep = Annotated[Caller | None, Depends(optional_caller)]
WriterDep = Annotated[Caller, Depends(require("partner", "coordinator"))]
CoordinatorDep = Annotated[Caller, Depends(require("coordinator"))]
OpsDep = Annotated[Caller, Depends(require("coordinator", "ops"))]
