from __future__ import annotations

import json

from fastapi import APIRouter, Request

from services.matchmaking.adapters import profiles
from shared.problems import Problem
from shared.service import pool_of

router = APIRouter(prefix="/v1", tags=["matchmaking"])


@router.get("/profiles/{participant_id}")
async def get_profile(participant_id: str, request: Request):
    async with pool_of(request).acquire() as conn:
        row = await profiles.get(conn, participant_id)
    if row is None:
        raise Problem(404, f"No profile for participant {participant_id}", kind="not-found")
    out = dict(row)
    out.update(
        participant_id=str(row["participant_id"]), country=row["country"].strip(),
        offers=json.loads(row["offers"]), requests=json.loads(row["requests"]),
    )
    return out
