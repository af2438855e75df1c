"""API-key authentication, the same in every service: ``Authorization: Bearer <key>`` → cluster and role.

Keys are 32 random bytes shown once; only their SHA-256 digest is stored (a fast hash is enough: there is
no dictionary to brute-force) in the ``api_keys`` table of each service's schema. Registration issues keys
and publishes ``apikey.issued`` / ``apikey.revoked`` signed with its key-signing key; the other services
verify the signature and apply them to their replica (shared/keysigning.py). Revocations leave a tombstone,
so one that arrives before its key's issue still wins.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from shared import metrics
from shared.events.catalogue import ApiKeyIssuedV2, ApiKeyRevokedV2
from shared.events.envelope import Envelope
from shared.keysigning import KeySigner, KeyVerifier, default_signer
from shared.messaging import outbox
from shared.messaging.consumer import Rejected
from shared.problems import Problem
from shared.unit_of_work import Caller  # defined framework-free there; re-exported for the routes

PREFIX = "cxc_"
ROLES = ("partner", "coordinator", "ops")


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()




# --- the source: issuing and revoking (registration) ---------------------------------------------


def signed_issued(signer: KeySigner, **fields) -> ApiKeyIssuedV2:
    data = ApiKeyIssuedV2(**fields, signature="").model_dump(mode="json")
    return ApiKeyIssuedV2(**{**data, "signature": signer.sign(ApiKeyIssuedV2.type, data)})


def signed_revoked(signer: KeySigner, **fields) -> ApiKeyRevokedV2:
    data = ApiKeyRevokedV2(**fields, signature="").model_dump(mode="json")
    return ApiKeyRevokedV2(**{**data, "signature": signer.sign(ApiKeyRevokedV2.type, data)})


async def issue_key(
    conn: asyncpg.Connection, cluster_id: str, role: str, label: str | None, *, source: str,
    signer: KeySigner | None = None,
) -> tuple[str, str]:
    """Store a new key's digest and publish it, signed, through the outbox; return (key id, key). Caller owns
    the transaction. Without the key-signing private key (``signer`` or the configured one) this fails."""
    signer = signer or default_signer()
    key, key_id = new_key(), str(uuid.uuid4())
    event = signed_issued(
        signer, key_id=key_id, cluster_id=cluster_id, role=role, key_sha256=digest(key).hex(), prefix=key[:10],
        label=label,
    )
    await _store(conn, event)
    await outbox.record(conn, event, source=source)
    return key_id, key


async def revoke_key(conn: asyncpg.Connection, key_id: str, *, source: str, signer: KeySigner | None = None) -> bool:
    signer = signer or default_signer()
    row = await conn.fetchrow(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING cluster_id", key_id
    )
    if row is None:
        return False
    await outbox.record(conn, signed_revoked(signer, key_id=key_id, cluster_id=row["cluster_id"]), source=source)
    KeyCache.forget_key(str(key_id))
    return True


async def resign_keys(conn: asyncpg.Connection, *, source: str, signer: KeySigner | None = None) -> int:
    """Publish every key again as a signed v2 event (and each revocation after it): replicas reject the
    unsigned v1 events of keys issued before signing existed, and they apply these instead (idempotently)."""
    signer = signer or default_signer()
    rows = await conn.fetch("SELECT id, cluster_id, role, key_hash, prefix, label, revoked_at FROM api_keys "
                            "ORDER BY created_at")
    for r in rows:
        await outbox.record(conn, signed_issued(
            signer, key_id=str(r["id"]), cluster_id=r["cluster_id"], role=r["role"], key_sha256=r["key_hash"].hex(),
            prefix=r["prefix"], label=r["label"],
        ), source=source)
        if r["revoked_at"] is not None:
            await outbox.record(conn, signed_revoked(signer, key_id=str(r["id"]), cluster_id=r["cluster_id"]),
                                source=source)
    return len(rows)


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


async def _store(conn: asyncpg.Connection, e: ApiKeyIssuedV2) -> None:
    # A key whose revocation was recorded first (tombstone) is stored revoked: order cannot revive it.
    await conn.execute(
        """INSERT INTO api_keys (id, cluster_id, role, key_hash, prefix, label, revoked_at)
           VALUES ($1, $2, $3, $4, $5, $6, (SELECT revoked_at FROM api_key_revocations WHERE key_id = $1))
           ON CONFLICT (id) DO NOTHING""",
        uuid.UUID(e.key_id), e.cluster_id, e.role, bytes.fromhex(e.key_sha256), e.prefix, e.label,
    )


async def _revoke(conn: asyncpg.Connection, e: ApiKeyRevokedV2) -> None:
    # Recorded even for a key this replica has not seen (yet): a later or replayed issue then stays revoked.
    await conn.execute(
        """INSERT INTO api_key_revocations (key_id, cluster_id) VALUES ($1, $2) ON CONFLICT (key_id) DO NOTHING""",
        uuid.UUID(e.key_id), e.cluster_id,
    )
    await conn.execute("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1",
                       uuid.UUID(e.key_id))
    # Before commit, so a request racing the transaction may cache the key once more: KeyCache's TTL bounds it.
    KeyCache.forget_key(e.key_id)


class KeyEventRejected(Rejected):
    """An apikey.* event without a valid signature from registration: dead-lettered, never applied."""


def key_replica_handlers(verifier: KeyVerifier, service: str) -> dict:
    """The handlers of a replica's cxc.keys consumer: verify registration's signature, then apply."""

    def verified(envelope: Envelope):
        payload = envelope.payload()
        data = payload.model_dump(mode="json")
        if (reason := verifier.problem(envelope.type, data)) is not None:
            metrics.KEY_EVENTS_REJECTED.labels(service, envelope.type, reason).inc()
            raise KeyEventRejected(f"{envelope.type} for key {data.get('key_id')} rejected: {reason} "
                                   "(only registration's key-signing key can issue or revoke keys)")
        return payload

    async def on_key_issued(conn: asyncpg.Connection, envelope: Envelope) -> None:
        await _store(conn, verified(envelope))

    async def on_key_revoked(conn: asyncpg.Connection, envelope: Envelope) -> None:
        await _revoke(conn, verified(envelope))

    return {"apikey.issued": on_key_issued, "apikey.revoked": on_key_revoked}


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


def public(reason: str, *, when: str | None = None, optional_key: bool = False):
    """Let a route be reached without an API key; ``reason`` says why (health probe, signed link, a route
    checking its own service credential, ...). The gate then leaves the Authorization header to the route.

    ``when`` names a boolean setting of the service that must be on, for routes that are public only by
    choice of the operator (the public scoreboard). ``optional_key=True`` makes the gate still check a key
    that is offered, so the handler can answer a known caller differently (``OptionalCallerDep``); the
    anonymous use of such a route spends a per-address request budget."""

    def mark(endpoint):
        endpoint.__cxc_public__ = (reason, when, optional_key)
        return endpoint

    return mark


def public_reason(route, settings) -> str | None:
    """Why ``route`` is public under ``settings``, or None when it needs a key."""
    mark = getattr(getattr(route, "endpoint", None), "__cxc_public__", None)
    if mark is None:
        return None
    reason, when, _ = mark
    if when is not None and not getattr(settings, when, False):
        return None
    return reason


def takes_optional_key(route) -> bool:
    mark = getattr(getattr(route, "endpoint", None), "__cxc_public__", None)
    return bool(mark and mark[2])


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


class KeyCache:
    """Bearer keys this process recently found valid, by digest, for ``ttl_s`` seconds: most requests then
    authenticate without a database round trip. Only successes are kept (an unknown key is looked up every
    time; the gate's 401 budget per address bounds that). Revocation stays effective: a key revoked anywhere
    stops working here within ``ttl_s`` (the entry expires), and at once where this process revokes it or
    applies its ``apikey.revoked`` event (``forget_key``). Browser sessions are not cached."""

    _every: weakref.WeakSet[KeyCache] = weakref.WeakSet()

    def __init__(self, ttl_s: float, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[bytes, tuple[float, Caller]] = {}
        KeyCache._every.add(self)

    def get(self, key_digest: bytes) -> Caller | None:
        entry = self._entries.get(key_digest)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            self._entries.pop(key_digest, None)
            return None
        return entry[1]

    def put(self, key_digest: bytes, who: Caller) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # cheaper than tracking age; a miss only costs one lookup
        self._entries[key_digest] = (self.clock() + self.ttl_s, who)

    def forget(self, key_id: str) -> None:
        for d in [d for d, (_, who) in self._entries.items() if who.key_id == key_id]:
            self._entries.pop(d, None)

    @classmethod
    def forget_key(cls, key_id: str) -> None:
        """Drop ``key_id`` from every cache of this process (the services of one process share nothing else)."""
        for cache in list(cls._every):
            cache.forget(key_id)


async def authenticate_cached(pool: asyncpg.Pool, cache: KeyCache, authorization: str | None,
                              session: str | None) -> Caller | None:
    """``authenticate``, answered from ``cache`` for a bearer key found valid within its TTL; a connection
    is taken from ``pool`` only on a miss."""
    key_digest = digest(bearer_key(authorization)) if authorization is not None else None
    if key_digest is not None and (who := cache.get(key_digest)) is not None:
        return who
    async with pool.acquire() as conn:
        who = await authenticate(conn, authorization, session)
    if key_digest is not None and who is not None:
        cache.put(key_digest, who)
    return who


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

    check.__cxc_roles__ = roles  # the OpenAPI declares 403 on routes behind it (shared/openapi.py)
    return check


CallerDep = Annotated[Caller, Depends(caller)]
OptionalCallerDep = Annotated[Caller | None, Depends(optional_caller)]
WriterDep = Annotated[Caller, Depends(require("partner", "coordinator"))]
CoordinatorDep = Annotated[Caller, Depends(require("coordinator"))]
OpsDep = Annotated[Caller, Depends(require("coordinator", "ops"))]
