"""Where registration's entrypoints open the unit of work: once, here, for the API and the CSV import.

Every write runs through ``execute``: with an Idempotency-Key the key is claimed in the same transaction
as the effect and the response is stored with it, so a retry replays the response and publishes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg

from services.registration.adapters import repository
from services.registration.adapters.repository import Repository
from services.registration.handlers import SOURCE, Uow
from shared.errors import Gone, RuleBroken
from shared.unit_of_work import Caller, unit_of_work

T = TypeVar("T")


@dataclass
class Reply:
    status: int
    body: Any
    location: str | None = None
    participant_id: uuid.UUID | None = None  # whose data the body may echo (erasure forgets it)
    replayed: bool = False
    participant_ids: list[uuid.UUID] | None = None  # a batch: each item's participant (erasure blanks its item)


@dataclass(frozen=True)
class Idempotency:
    api_key_id: str
    key: str
    fingerprint: str


def open_uow(pool: asyncpg.Pool, caller: Caller, conn: asyncpg.Connection | None = None):
    """``conn``: the connection the gate lends a route marked ``@on_gate_connection`` (one per request)."""
    return unit_of_work(pool, caller, Repository, source=SOURCE, conn=conn)


async def read(pool: asyncpg.Pool, caller: Caller, work: Callable[[Uow], Awaitable[T]],
               conn: asyncpg.Connection | None = None) -> T:
    async with open_uow(pool, caller, conn) as uow:
        return await work(uow)


async def execute(pool: asyncpg.Pool, caller: Caller, idem: Idempotency | None,
                  work: Callable[[Uow], Awaitable[Reply]], conn: asyncpg.Connection | None = None) -> Reply:
    async with open_uow(pool, caller, conn) as uow:
        conn = uow.conn
        if idem is not None:
            stored = await repository.claim_idempotency_key(conn, idem.api_key_id, idem.key, idem.fingerprint)
            if stored is not None:
                if stored["fingerprint"] != idem.fingerprint:
                    raise RuleBroken(None, "This Idempotency-Key was used with a different request",
                                     kind="idempotency-key-reused", title=None)
                if stored["status"] == 410 and stored["body"] is None:
                    # Erasure blanked it. Re-running the request instead could re-register the erased
                    # person; answering the old body would hand back their data. 410 says: it was applied,
                    # and what it was about no longer exists.
                    raise Gone("The participant this request concerned was erased; its response is gone",
                               kind="erased")
                return Reply(stored["status"], json.loads(stored["body"]), stored["location"], replayed=True)
        reply = await work(uow)
        if idem is not None:
            await repository.store_response(
                conn, idem.api_key_id, idem.key, reply.status, reply.body, reply.location, reply.participant_id,
                reply.participant_ids,
            )
        return reply
