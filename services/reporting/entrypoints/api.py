from __future__ import annotations

from fastapi import APIRouter, Query, Request

from services.reporting.adapters import projection
from shared.service import pool_of

router = APIRouter(prefix="/v1", tags=["reporting"])


@router.get("/kpis")
async def kpis(request: Request, cluster: str | None = Query(None, description="Sending cluster id")):
    async with pool_of(request).acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return {
            "participants": await projection.participant_kpis(conn, cluster),
            "as_of": await projection.as_of(conn),
        }
