"""In-memory fakes of the handler contract (shared/unit_of_work.py), for unit tests without PostgreSQL.

``FakeUnitOfWork`` records what a handler publishes and gives savepoints their meaning: a block that raises
rolls back the events it published and the repository's state (deep-copied on entry), as a PostgreSQL
savepoint would. A service's in-memory repository is any object; its attributes are its tables.
"""

from __future__ import annotations

import copy
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

from shared.unit_of_work import Caller

R = TypeVar("R")

PARTNER = Caller(cluster_id="alpha", role="partner", key_id="k-alpha")
COORDINATOR = Caller(cluster_id="programme", role="coordinator", key_id="k-coord")


class FakeUnitOfWork(Generic[R]):
    def __init__(self, repo: R, caller: Caller = COORDINATOR) -> None:
        self.repo = repo
        self.caller = caller
        self.published: list[Any] = []

    async def publish(self, event: Any) -> None:
        self.published.append(event)

    @asynccontextmanager
    async def savepoint(self):
        state, published = copy.deepcopy(vars(self.repo)), len(self.published)
        try:
            yield self
        except BaseException:
            vars(self.repo).clear()
            vars(self.repo).update(state)
            del self.published[published:]
            raise

    def as_(self, caller: Caller) -> FakeUnitOfWork[R]:
        """The same state seen by another caller (events published through either land in one list)."""
        other = FakeUnitOfWork(self.repo, caller)
        other.published = self.published
        return other

    def types(self) -> list[str]:
        return [type(e).type if hasattr(type(e), "type") else type(e).__name__ for e in self.published]
