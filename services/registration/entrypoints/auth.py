"""API-key authentication: ``Authorization: Bearer <key>`` → the caller's cluster and role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.registration.adapters import repository
from shared.problems import Problem
from shared.service import pool_of


@dataclass(frozen=True)
class Caller:
    cluster_id: str
    role: str

    def can_see(self, cluster_id: str) -> bool:
        return self.role != "partner" or self.cluster_id == cluster_id


_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="clusterxchange"'}


async def caller(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Problem(401, "Send your API key as 'Authorization: Bearer <key>'", kind="unauthorized", headers=_UNAUTHORIZED)
    async with pool_of(request).acquire() as conn:
        row = await repository.find_key(conn, key.strip())
    if row is None:
        raise Problem(401, "The API key is unknown or revoked", kind="unauthorized", headers=_UNAUTHORIZED)
    return Caller(cluster_id=row["cluster_id"], role=row["role"])


def require(*roles: str):
    async def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if who.role not in roles:
            raise Problem(403, f"The {who.role} role cannot do this", kind="forbidden")
        return who

    return check


CallerDep = Annotated[Caller, Depends(caller)]
WriterDep = Annotated[Caller, Depends(require("partner", "coordinator"))]
CoordinatorDep = Annotated[Caller, Depends(require("coordinator"))]
