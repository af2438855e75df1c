"""``/v1/keys``: coordinators issue, list, revoke and rotate API keys (the secret is shown once)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from services.registration import admin
from services.registration.domain.programme import KeyIn, Role
from services.registration.entrypoints.writes import Reply, open_uow
from services.registration.entrypoints import schemas as out
from shared.auth import CoordinatorDep
from shared.openapi import ok, problems
from shared.unit_of_work import Caller
from shared.service import pool_of

# Authentication, request budgets and the body cap come from the gate (shared/gate.py).
router = APIRouter(prefix="/v1", tags=["keys"])

# The response carries a secret: no cache may keep it.
_NO_STORE = {"Cache-Control": "no-store"}


def _respond(reply: Reply) -> JSONResponse:
    headers = dict(_NO_STORE)
    if reply.location:
        headers["Location"] = reply.location
    return JSONResponse(reply.body, status_code=reply.status, headers=headers)


async def _in_transaction(request: Request, who: Caller, work) -> JSONResponse:
    async with open_uow(pool_of(request), who) as uow:
        return _respond(await work(uow.conn))


@router.post("/keys", status_code=201, responses=ok(out.IssuedKey, 201))
async def issue_key(body: KeyIn, request: Request, who: CoordinatorDep):
    """Issue a key for a cluster; ``key`` in the response is the only time the secret is shown."""
    return await _in_transaction(request, who, lambda conn: admin.issue_key(conn, body))


@router.get("/keys", responses=ok(list[out.Key]))
async def list_keys(
    request: Request, who: CoordinatorDep,
    cluster_id: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")] = None,
    role: Role | None = None,
    include_revoked: bool = False,
):
    """Keys without their secrets (id, prefix, cluster, role, label, dates)."""
    async with open_uow(pool_of(request), who) as uow:
        return await admin.list_keys(uow.conn, cluster_id, role, include_revoked)


@router.delete("/keys/{key_id}", responses=ok(out.Key) | problems(
    409, s409="The last active coordinator key cannot be revoked: rotate it"))
async def revoke_key(key_id: str, request: Request, who: CoordinatorDep):
    """Revoke a key at once in registration, and in every other service when it applies ``apikey.revoked``.
    The last active coordinator key cannot be revoked (409): rotate it instead."""
    return await _in_transaction(request, who, lambda conn: admin.revoke_key(conn, key_id))


@router.post("/keys/{key_id}/rotate", status_code=201, responses=ok(out.IssuedKey, 201))
async def rotate_key(key_id: str, request: Request, who: CoordinatorDep):
    """A new key with the same cluster, role and label; the old one is revoked in the same transaction."""
    return await _in_transaction(request, who, lambda conn: admin.rotate_key(conn, key_id))
