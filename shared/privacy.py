"""Crypto-shredding: personal fields travel in events sealed with a data key of their participant.

Why: Kafka topics, dead-letter topics and outbox rows are append-only copies that erasure cannot rewrite
(Tansu and many Kafka setups have no compaction or delete_records; an ops replay re-publishes dead letters).
Instead of trying to reach every copy, the personal part of an event is AES-256-GCM encrypted under a key
only registration holds, one key per participant. Erasure deletes the key: every copy, wherever it is,
becomes ciphertext nobody can open, while ids and the non-personal classification (cluster, kind,
country, sectors) stay readable for reporting and rebuilds.

Consumers that need the plaintext (matchmaking's profile index, notifications' organisation names) get
the key from registration's authenticated internal lookup, cache it briefly, and store what they read in
their own tables, which they delete on ``participant.erased``. A lookup after erasure answers 410 and the
consumer stores nothing, so a late or replayed event cannot bring the data back; the tombstone tables
(``erased_participants``) say the same without asking registration.

The AAD binds a ciphertext to its participant and purpose, so a sealed value cannot be moved into another
participant's event and opened with that participant's key.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from collections.abc import Iterable
from typing import Any, Literal, Protocol

import asyncpg
import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field, model_validator

ALG = "A256GCM"
PROFILE = "participant.profile"
EXCHANGE_REASON = "exchange.reason"


class Sealed(BaseModel):
    """Personal fields of an event, as they travel: AES-256-GCM under the data key of participant ``kid``.

    ``alg: "none"`` only ever comes out of an upcaster: an event of an old version, published before
    fields were sealed, carries them in ``plain`` (such history cannot be shredded after the fact; the
    tombstones keep consumers from applying it to an erased participant). Producers never write it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    alg: Literal["A256GCM", "none"] = Field(description="A256GCM; 'none' only for upcast legacy events")
    kid: str = Field(description="Participant id whose data key sealed the fields")
    iv: str | None = Field(None, description="96-bit nonce, base64url")
    ct: str | None = Field(None, description="Ciphertext with the GCM tag, base64url")
    plain: dict[str, Any] | None = Field(None, description="Legacy only (alg 'none'): the fields in clear")

    @model_validator(mode="after")
    def _shape(self):
        if self.alg == ALG and (self.iv is None or self.ct is None or self.plain is not None):
            raise ValueError("A256GCM needs iv and ct and no plain")
        if self.alg == "none" and (self.plain is None or self.iv is not None or self.ct is not None):
            raise ValueError("alg 'none' carries plain only")
        return self


class SealBroken(ValueError):
    """The ciphertext does not open with the key (tampered, moved between participants, wrong key)."""


class KeyServiceUnavailable(ConnectionError):
    """Registration's key lookup did not answer. A ConnectionError on purpose: the consumer treats it like
    an unreachable database (retry, then restart) instead of dead-lettering a perfectly good event."""


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _aad(kid: str, purpose: str) -> bytes:
    return f"cxc|{purpose}|{kid}".encode()


def seal(key: bytes, kid: str, purpose: str, fields: dict[str, Any]) -> Sealed:
    iv = os.urandom(12)
    plaintext = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()
    ct = AESGCM(key).encrypt(iv, plaintext, _aad(kid, purpose))
    return Sealed(alg=ALG, kid=kid, iv=_b64(iv), ct=_b64(ct))


def open_with(key: bytes, sealed: Sealed, purpose: str) -> dict[str, Any]:
    if sealed.alg == "none":
        return dict(sealed.plain or {})
    try:
        plaintext = AESGCM(key).decrypt(_unb64(sealed.iv or ""), _unb64(sealed.ct or ""), _aad(sealed.kid, purpose))
    except (InvalidTag, ValueError) as exc:
        raise SealBroken(f"sealed {purpose} of {sealed.kid} does not open with its key") from exc
    return json.loads(plaintext)


# --- where consumers get keys ------------------------------------------------------------------------


class KeyRing(Protocol):
    async def key_for(self, participant_id: str) -> bytes | None:
        """The participant's data key, or None when it is destroyed (erased) or never existed."""

    def forget(self, participant_id: str) -> None:
        """Drop a cached key (on erasure)."""


async def unseal(keys: KeyRing, sealed: Sealed | None, purpose: str) -> dict[str, Any] | None:
    """The fields in clear, or None when there is nothing or the key is shredded."""
    if sealed is None:
        return None
    if sealed.alg == "none":
        return dict(sealed.plain or {})
    key = await keys.key_for(sealed.kid)
    if key is None:
        return None
    return open_with(key, sealed, purpose)


class RemoteKeyRing:
    """Keys from registration's internal lookup (``GET /internal/v1/data-keys/{id}``), cached for ``ttl_s``.

    The cache is short and in memory only: a key never reaches a disk outside registration, and a key
    destroyed at the source stops opening new events within ``ttl_s`` even on a replica that missed the
    erasure event. A replica that did see ``participant.erased`` forgets the key at once."""

    def __init__(self, base_url: str, token: Any, *, ttl_s: float = 60.0, timeout_s: float = 5.0,
                 max_entries: int = 10_000, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.ttl_s, self.timeout_s, self.max_entries = ttl_s, timeout_s, max_entries
        self._transport = transport
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        self._lock = asyncio.Lock()

    def _bearer(self) -> str:
        token = self._token
        return token.get_secret_value() if hasattr(token, "get_secret_value") else str(token)

    async def key_for(self, participant_id: str) -> bytes | None:
        hit = self._cache.get(participant_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        key = await self._fetch(participant_id)
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        # A missing key is cached too (briefly): replaying an erased participant's history asks once.
        self._cache[participant_id] = (time.monotonic() + self.ttl_s, key)
        return key

    def forget(self, participant_id: str) -> None:
        self._cache.pop(participant_id, None)

    async def _fetch(self, participant_id: str) -> bytes | None:
        try:
            uuid.UUID(participant_id)
        except ValueError:
            return None
        try:
            # A client per lookup: lookups are rare (cached) and this keeps no connection to close on shutdown.
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s,
                                         transport=self._transport) as client:
                r = await client.get(f"/internal/v1/data-keys/{participant_id}",
                                     headers={"Authorization": f"Bearer {self._bearer()}"})
        except httpx.HTTPError as exc:
            raise KeyServiceUnavailable(f"data-key lookup failed: {type(exc).__name__}") from exc
        if r.status_code in (404, 410):
            return None
        if r.status_code != 200:
            raise KeyServiceUnavailable(f"data-key lookup answered {r.status_code}")
        return _unb64(r.json()["key"])


class StaticKeyRing:
    """Keys held in memory: for tools and tests that seal and open without a registration service."""

    def __init__(self, keys: dict[str, bytes] | None = None) -> None:
        self.keys = dict(keys or {})

    async def key_for(self, participant_id: str) -> bytes | None:
        return self.keys.get(participant_id)

    def forget(self, participant_id: str) -> None:
        self.keys.pop(participant_id, None)


def remote_keyring(settings) -> RemoteKeyRing:
    """The key ring of a consuming service, from its settings (registration's URL, the internal token)."""
    return RemoteKeyRing(settings.registration_url, settings.internal_token)


# --- tombstones ----------------------------------------------------------------------------------------
# Each consuming service keeps ``erased_participants (participant_id text PRIMARY KEY, erased_at)`` in its
# own schema: ids only, so keeping them forever is fine, and it is what makes a late event harmless.


async def tombstone(conn: asyncpg.Connection, participant_id: str) -> None:
    await conn.execute(
        "INSERT INTO erased_participants (participant_id) VALUES ($1) ON CONFLICT DO NOTHING", str(participant_id)
    )


async def erased(conn: asyncpg.Connection, participant_ids: Iterable[str | None]) -> set[str]:
    """Those of ``participant_ids`` that were erased."""
    ids = sorted({str(p) for p in participant_ids if p})
    if not ids:
        return set()
    rows = await conn.fetch(
        "SELECT participant_id FROM erased_participants WHERE participant_id = ANY($1::text[])", ids
    )
    return {r["participant_id"] for r in rows}
