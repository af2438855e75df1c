"""The handler contract, the same in every service.

A handler is ``async def handler(uow: UnitOfWork[Repo], command...) -> result``:

- ``uow`` is everything it may touch: ``uow.repo`` (the service's repository, bound to this transaction),
  ``uow.publish(event)`` (the transactional outbox: the event is sent only if the transaction commits),
  ``uow.savepoint()`` (a nested transaction: a failure inside rolls back only that part) and ``uow.caller``
  (who acts: a plain ``Caller``, no web framework involved).
- It raises domain errors (``shared.errors``: ``NotFound``, ``Conflict``, ``RuleBroken``, ``Forbidden``,
  ``Gone``); the service runtime maps them to problem+json once, at the edge (``shared.problems.install``).
- It returns domain results (rows, aggregates, dataclasses); the entrypoints shape them into JSON views.

The routes (or a consumer, or a CLI command) open the unit of work with ``unit_of_work(...)``, in one place
per service; the handler never opens or commits a transaction. Unit tests pass an in-memory fake instead
(``tests/support/fakes.py``), so handlers are tested without PostgreSQL; integration tests prove the SQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import asyncpg

from shared.messaging import outbox

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


@dataclass(frozen=True)
class Caller:
    """Who acts: the API key's cluster and role (``shared.auth`` resolves it from the request)."""

    cluster_id: str
    role: str
    key_id: str

    def can_see(self, cluster_id: str) -> bool:
        """Partners see their own cluster only; coordinators and ops see the programme."""
        return self.role != "partner" or self.cluster_id == cluster_id


class UnitOfWork(Protocol[R_co]):
    caller: Caller

    @property
    def repo(self) -> R_co: ...

    async def publish(self, event: Any) -> None: ...

    def savepoint(self) -> AbstractAsyncContextManager[Any]: ...


class PgUnitOfWork(Generic[R]):
    """One PostgreSQL transaction: the repository and the outbox share its connection."""

    def __init__(self, conn: asyncpg.Connection, caller: Caller, repo: R, *, source: str,
                 correlation_id: str | None = None) -> None:
        self.conn = conn
        self.caller = caller
        self.repo = repo
        self.source = source
        self.correlation_id = correlation_id

    async def publish(self, event: Any) -> None:
        await outbox.record(self.conn, event, source=self.source, correlation_id=self.correlation_id)

    def savepoint(self) -> AbstractAsyncContextManager[Any]:
        return self.conn.transaction()


@asynccontextmanager
async def unit_of_work(
    pool: asyncpg.Pool, caller: Caller, repository: Callable[[asyncpg.Connection], R], *, source: str,
    correlation_id: str | None = None, conn: asyncpg.Connection | None = None,
) -> AsyncIterator[PgUnitOfWork[R]]:
    """Acquire a connection (or use ``conn``, one the caller already holds: the gate's, shared/gate.py) and
    open a transaction; commit when the block ends, roll back if it raises."""
    if conn is not None:
        async with conn.transaction():
            yield PgUnitOfWork(conn, caller, repository(conn), source=source, correlation_id=correlation_id)
        return
    async with pool.acquire() as held, held.transaction():
        yield PgUnitOfWork(held, caller, repository(held), source=source, correlation_id=correlation_id)
