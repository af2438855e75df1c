from __future__ import annotations

import json
import secrets
import uuid
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.registration import handlers
from services.registration.adapters import repository
from services.registration.domain.model import Country, ParticipantIn
from shared.auth import CallerDep, CoordinatorDep, WriterDep
from shared.problems import Problem
from shared.service import pool_of

router = APIRouter(prefix="/v1", tags=["registration"])


class ClusterIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", examples=["silicon-saxony"])
    name: str = Field(min_length=1, max_length=200)
    country: Country
    city: str = Field(min_length=1, max_length=120)


def participant_json(row: asyncpg.Record) -> dict:
    out = {
        "id": str(row["id"]),
        "cluster_id": row["cluster_id"],
        "external_ref": row["external_ref"],
        "status": row["status"],
        "kind": row["kind"],
        "name": row["name"],
        "country": row["country"].strip(),
        "city": row["city"],
        "employees": row["employees"],
        "website": row["website"],
        "sectors": list(row["sectors"]),
        "keywords": list(row["keywords"]),
        "offers": json.loads(row["offers"]),
        "requests": json.loads(row["requests"]),
        "consent": {"data_processing": True, "marketing": row["marketing_consent"]},
        "created_at": row["created_at"].isoformat(),
    }
    if "contact_email" in row.keys() and row["contact_email"] is not None:
        out["contact"] = {
            "name": row["contact_name"], "email": row["contact_email"], "phone": row["contact_phone"],
            "language": row["contact_language"],
        }
    return out


@router.post("/clusters", status_code=201)
async def create_cluster(body: ClusterIn, request: Request, _: CoordinatorDep):
    async with pool_of(request).acquire() as conn:
        if not await repository.add_cluster(conn, body.id, body.name, body.country, body.city):
            raise Problem(409, f"Cluster {body.id!r} already exists", kind="conflict")
    return body.model_dump()


@router.get("/clusters")
async def list_clusters(request: Request, _: CallerDep):
    async with pool_of(request).acquire() as conn:
        return await repository.list_clusters(conn)


@router.post("/participants", status_code=201)
async def register_participant(
    body: ParticipantIn,
    request: Request,
    response: Response,
    who: WriterDep,
    correlation_id: Annotated[str | None, Header(alias="X-Correlation-ID")] = None,
):
    if who.role == "partner":
        if body.cluster_id not in (None, who.cluster_id):
            raise Problem(403, "A partner key registers into its own cluster only", kind="forbidden")
        cluster_id = who.cluster_id
    else:
        if body.cluster_id is None:
            raise Problem(
                422, "A coordinator must pass cluster_id", kind="validation-error", title="Validation failed",
                errors=[{"field": "cluster_id", "message": "required for coordinator keys", "type": "missing"}],
            )
        cluster_id = body.cluster_id
    row, created = await handlers.register_participant(
        pool_of(request), body, cluster_id=cluster_id, correlation_id=correlation_id
    )
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/participants/{row['id']}"
    return participant_json(row)


@router.get("/participants/{participant_id}")
async def get_participant(participant_id: str, request: Request, who: CallerDep):
    try:
        pid = uuid.UUID(participant_id)
    except ValueError:
        raise Problem(404, f"No participant {participant_id}", kind="not-found") from None
    async with pool_of(request).acquire() as conn:
        row = await repository.get_participant(conn, pid)
    if row is None or not who.can_see(row["cluster_id"]):
        raise Problem(404, f"No participant {participant_id}", kind="not-found")
    return participant_json(row)


internal = APIRouter(prefix="/internal/v1", tags=["internal"], include_in_schema=False)


def _internal_only(request: Request) -> None:
    token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not secrets.compare_digest(token, request.app.state.service.settings.internal_token):
        raise Problem(401, "Internal endpoint: service token required", kind="unauthorized")


@internal.get("/contacts/{participant_id}", dependencies=[Depends(_internal_only)])
async def contact_lookup(participant_id: str, request: Request):
    """Contact data for notifications at send time; 404 once erased. Events never carry it."""
    try:
        pid = uuid.UUID(participant_id)
    except ValueError:
        raise Problem(404, f"No contact for {participant_id}", kind="not-found") from None
    async with pool_of(request).acquire() as conn:
        row = await repository.get_participant(conn, pid)
    if row is None or row["contact_email"] is None:
        raise Problem(404, f"No contact for {participant_id}", kind="not-found")
    return {
        "participant_id": str(row["id"]), "cluster_id": row["cluster_id"], "organisation": row["name"],
        "name": row["contact_name"], "email": row["contact_email"], "phone": row["contact_phone"],
        "language": row["contact_language"], "marketing_consent": row["marketing_consent"],
    }
