from __future__ import annotations

from fastapi import APIRouter, Query, Request

from services.notifications.adapters import inbox
from shared.service import pool_of

router = APIRouter(prefix="/v1", tags=["notifications"])


@router.get("/received-events")
async def received_events(
    request: Request, subject: str | None = Query(None), event_id: str | None = Query(None)
):
    async with pool_of(request).acquire() as conn:
        rows = await inbox.list_for(conn, subject, event_id)
    return [
        {
            "event_id": str(r["event_id"]), "event_type": r["event_type"], "subject": r["subject"],
            "correlation_id": r["correlation_id"], "event_time": r["event_time"].isoformat(),
        }
        for r in rows
    ]
