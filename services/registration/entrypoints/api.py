from __future__ import annotations

import base64
import secrets
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from services.registration import admin, handlers
from services.registration.adapters import repository
from services.registration.domain.model import (
    ActivityIn,
    CancelIn,
    CompletionIn,
    ExchangeIn,
    JoinIn,
    ParticipantBatch,
    ParticipantIn,
    ParticipantPatch,
    decode_cursor,
    encode_cursor,
)
from services.registration.domain.programme import ClusterIn, ClusterPatch
from services.registration.entrypoints.idempotency import IdempotencyDep
from services.registration.handlers import Context, Reply, participant_json
from shared.auth import CallerDep, CoordinatorDep, WriterDep, public
from shared.gate import spend
from shared.events.catalogue import ActivityKind, ParticipantKind
from services.registration.entrypoints import schemas as out
from shared.openapi import ok, problems
from shared.problems import Problem
from shared.service import pool_of

router = APIRouter(prefix="/v1", tags=["registration"])

CorrelationId = Annotated[str | None, Header(alias="X-Correlation-ID", max_length=200)]
# A write retried with its Idempotency-Key after the participant it concerned was erased answers 410.
_IDEMPOTENT = (410,)


def _respond(reply: Reply) -> JSONResponse:
    headers = {}
    if reply.location:
        headers["Location"] = reply.location
    if reply.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(reply.body, status_code=reply.status, headers=headers)


def _id(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise handlers.not_found(what, value) from None


def _ctx(request: Request, who, correlation_id: str | None) -> Context:
    # The header parameter documents X-Correlation-ID in the OpenAPI; the value itself is validated (or
    # replaced) by the correlation middleware, and outbox.record takes it from there.
    return Context(who, None, request.app.state.service.settings)


async def _write(request: Request, idem, work) -> JSONResponse:
    return _respond(await handlers.execute(pool_of(request), idem, work))


# --- clusters ------------------------------------------------------------------------------------


@router.post("/clusters", status_code=201, responses=ok(out.Cluster, 201) | problems(409, *_IDEMPOTENT))
async def create_cluster(body: ClusterIn, request: Request, _: CoordinatorDep, idem: IdempotencyDep):
    return await _write(request, idem, lambda conn: admin.create_cluster(conn, body))


@router.patch("/clusters/{cluster_id}", responses=ok(out.Cluster) | problems(*_IDEMPOTENT))
async def update_cluster(cluster_id: str, body: ClusterPatch, request: Request, _: CoordinatorDep,
                         idem: IdempotencyDep):
    """Rename or move a cluster. Its id never changes: keys, participants and events refer to it."""
    return await _write(request, idem, lambda conn: admin.update_cluster(conn, cluster_id, body))


@router.get("/clusters", responses=ok(list[out.Cluster]))
async def list_clusters(request: Request, _: CallerDep):
    async with pool_of(request).acquire() as conn:
        return await repository.list_clusters(conn)


# --- participants --------------------------------------------------------------------------------


@router.post("/participants", status_code=201, responses=ok(out.Participant, 201, 200) | problems(*_IDEMPOTENT))
async def register_participant(
    body: ParticipantIn, request: Request, who: WriterDep, idem: IdempotencyDep, correlation_id: CorrelationId = None
):
    """201 with the new participant; 200 with the existing one when ``external_ref`` is already known."""
    cluster_id = handlers.target_cluster(who, body.cluster_id)
    ctx = _ctx(request, who, correlation_id)
    return await _write(request, idem, lambda conn: handlers.register_participant(conn, ctx, body, cluster_id))


@router.post("/participants:batch", status_code=200, responses=ok(out.BatchResult) | problems(*_IDEMPOTENT))
async def register_batch(
    body: ParticipantBatch, request: Request, who: WriterDep, idem: IdempotencyDep, correlation_id: CorrelationId = None
):
    """Up to 500 participants; ``results[i]`` tells what happened to ``items[i]`` (201 created, 200 known
    ``external_ref``, or a problem). Valid items are registered even when others are not."""
    await spend(request, len(body.items) - 1)
    ctx = _ctx(request, who, correlation_id)
    return await _write(request, idem, lambda conn: handlers.register_batch(conn, ctx, body.items))


@router.get("/participants", responses=ok(out.ParticipantPage))
async def list_participants(
    request: Request,
    who: CallerDep,
    kind: ParticipantKind | None = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
    cluster_id: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
):
    """Oldest first; pass ``next_cursor`` back as ``cursor`` for the next page. Partners list their own
    cluster only."""
    try:
        after = decode_cursor(cursor) if cursor else None
    except ValueError as exc:
        raise Problem(422, str(exc), kind="validation-error", title="Validation failed",
                      errors=[{"field": "cursor", "message": str(exc), "type": "value_error"}]) from None
    if who.role == "partner":
        if cluster_id not in (None, who.cluster_id):
            return {"items": [], "next_cursor": None}
        cluster_id = who.cluster_id
    async with pool_of(request).acquire() as conn:
        rows = await repository.list_participants(
            conn, cluster_id=cluster_id, kind=kind, country=country.upper() if country else None, after=after,
            limit=limit + 1,
        )
    page = rows[:limit]
    more = len(rows) > limit
    return {"items": [participant_json(r) for r in page],
            "next_cursor": encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None}


@router.get("/participants/{participant_id}", responses=ok(out.Participant))
async def get_participant(participant_id: str, request: Request, who: CallerDep):
    pid = _id(participant_id, "participant")
    async with pool_of(request).acquire() as conn:
        row = await repository.get_participant(conn, pid)
    if row is None or row["status"] == "erased" or not who.can_see(row["cluster_id"]):
        raise handlers.not_found("participant", participant_id)
    return participant_json(row)


@router.patch("/participants/{participant_id}", responses=ok(out.Participant) | problems(*_IDEMPOTENT))
async def update_participant(
    participant_id: str, body: ParticipantPatch, request: Request, who: WriterDep, idem: IdempotencyDep,
    correlation_id: CorrelationId = None,
):
    pid, ctx = _id(participant_id, "participant"), _ctx(request, who, correlation_id)
    return await _write(request, idem, lambda conn: handlers.update_participant(conn, ctx, pid, body))


@router.delete("/participants/{participant_id}", status_code=202,
               responses=ok(out.Erasure, 202) | problems(*_IDEMPOTENT))
async def erase_participant(
    participant_id: str, request: Request, who: WriterDep, idem: IdempotencyDep, correlation_id: CorrelationId = None
):
    """GDPR erasure: the contact data is deleted now; an open exchange of the participant is cancelled
    first; ``participant.erased`` tells every other service to delete its copies."""
    pid, ctx = _id(participant_id, "participant"), _ctx(request, who, correlation_id)
    return await _write(request, idem, lambda conn: handlers.erase_participant(conn, ctx, pid))


# --- activities ----------------------------------------------------------------------------------


@router.post("/activities", status_code=201, responses=ok(out.Activity, 201) | problems(*_IDEMPOTENT))
async def create_activity(
    body: ActivityIn, request: Request, who: WriterDep, idem: IdempotencyDep, correlation_id: CorrelationId = None
):
    ctx = _ctx(request, who, correlation_id)
    return await _write(request, idem, lambda conn: handlers.create_activity(conn, ctx, body))


@router.get("/activities", responses=ok(list[out.Activity]))
async def list_activities(request: Request, _: CallerDep, kind: ActivityKind | None = None):
    async with pool_of(request).acquire() as conn:
        return [handlers.activity_json(r) for r in await repository.list_activities(conn, kind)]


@router.get("/activities/{activity_id}", responses=ok(out.Activity))
async def get_activity(activity_id: str, request: Request, _: CallerDep):
    aid = _id(activity_id, "activity")
    async with pool_of(request).acquire() as conn:
        row = await repository.get_activity(conn, aid)
        if row is None:
            raise handlers.not_found("activity", activity_id)
        return handlers.activity_json(row, await repository.count_activity_participants(conn, aid))


@router.post("/activities/{activity_id}/participants", status_code=201,
             responses=ok(out.Joined, 201) | problems(409, *_IDEMPOTENT))
async def join_activity(
    activity_id: str, body: JoinIn, request: Request, who: WriterDep, idem: IdempotencyDep,
    correlation_id: CorrelationId = None,
):
    aid, ctx = _id(activity_id, "activity"), _ctx(request, who, correlation_id)
    return await _write(request, idem, lambda conn: handlers.join_activity(conn, ctx, aid, body))


# --- exchanges -----------------------------------------------------------------------------------


@router.post("/exchanges", status_code=201,
             responses=ok(out.Exchange, 201) | problems(404, 409, *_IDEMPOTENT, s404="No such participant, or one the caller may not see"))
async def apply_exchange(
    body: ExchangeIn, request: Request, who: WriterDep, idem: IdempotencyDep, correlation_id: CorrelationId = None
):
    ctx = _ctx(request, who, correlation_id)
    return await _write(request, idem, lambda conn: handlers.apply_exchange(conn, ctx, body))


@router.get("/exchanges", responses=ok(list[out.Exchange]))
async def list_exchanges(
    request: Request, who: CallerDep,
    status: Literal["applied", "approved", "cancelled", "completed"] | None = None,
):
    """Partners see the exchanges their cluster sends or hosts."""
    async with pool_of(request).acquire() as conn:
        rows = await repository.list_exchanges(
            conn, cluster_id=who.cluster_id if who.role == "partner" else None, status=status)
    return [handlers.exchange_json(r) for r in rows]


@router.get("/exchanges/{exchange_id}", responses=ok(out.Exchange))
async def get_exchange(exchange_id: str, request: Request, who: CallerDep):
    xid = _id(exchange_id, "exchange")
    async with pool_of(request).acquire() as conn:
        row = await repository.get_exchange(conn, xid)
    if row is None or not (who.can_see(row["sending_cluster_id"]) or who.can_see(row["host_cluster_id"])):
        raise handlers.not_found("exchange", exchange_id)
    return handlers.exchange_json(row)


@router.post("/exchanges/{exchange_id}/approve", responses=ok(out.ApprovedExchange) | problems(409, *_IDEMPOTENT))
async def approve_exchange(
    exchange_id: str, request: Request, who: CoordinatorDep, idem: IdempotencyDep, correlation_id: CorrelationId = None
):
    """Computes ``lump_sum_eur``: the host country's cap, halved for a stay under 5 working days or a
    distance under 200 km between the sending and host cities."""
    xid, ctx = _id(exchange_id, "exchange"), _ctx(request, who, correlation_id)
    return await _write(request, idem, lambda conn: handlers.approve_exchange(conn, ctx, xid))


@router.post("/exchanges/{exchange_id}/cancel", responses=ok(out.Exchange) | problems(409, *_IDEMPOTENT))
async def cancel_exchange(
    exchange_id: str, request: Request, who: WriterDep, idem: IdempotencyDep, body: CancelIn | None = None,
    correlation_id: CorrelationId = None,
):
    xid, ctx = _id(exchange_id, "exchange"), _ctx(request, who, correlation_id)
    return await _write(request, idem, lambda conn: handlers.cancel_exchange(conn, ctx, xid, body or CancelIn()))


@router.post("/exchanges/{exchange_id}/completion", responses=ok(out.Exchange) | problems(409, *_IDEMPOTENT))
async def complete_exchange(
    exchange_id: str, body: CompletionIn, request: Request, who: WriterDep, idem: IdempotencyDep,
    correlation_id: CorrelationId = None,
):
    xid, ctx = _id(exchange_id, "exchange"), _ctx(request, who, correlation_id)
    return await _write(request, idem, lambda conn: handlers.complete_exchange(conn, ctx, xid, body))


# --- internal ------------------------------------------------------------------------------------

internal = APIRouter(prefix="/internal/v1", tags=["internal"], include_in_schema=False)


def _internal_only(request: Request) -> None:
    # Compared as bytes: compare_digest raises on non-ASCII str, and a header is whatever the client sent.
    token = request.headers.get("authorization", "").removeprefix("Bearer ").strip().encode("utf-8", "surrogateescape")
    expected = request.app.state.service.settings.internal_token.get_secret_value().encode()
    if not secrets.compare_digest(token, expected):
        raise Problem(401, "Internal endpoint: service token required", kind="unauthorized")


@internal.get("/contacts/{participant_id}", dependencies=[Depends(_internal_only)])
@public("internal: authenticated by the service token (_internal_only), not an API key")
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


@internal.get("/data-keys/{participant_id}", dependencies=[Depends(_internal_only)])
@public("internal: authenticated by the service token (_internal_only), not an API key")
async def data_key_lookup(participant_id: str, request: Request):
    """The participant's data key, for consumers opening the sealed personal fields of events
    (shared/privacy.py). 410 once erased: the key is destroyed, and with it every sealed copy."""
    try:
        pid = uuid.UUID(participant_id)
    except ValueError:
        raise Problem(404, f"No participant {participant_id}", kind="not-found") from None
    async with pool_of(request).acquire() as conn:
        status, key = await repository.lookup_data_key(conn, pid)
    if status == "erased":
        raise Problem(410, f"Participant {participant_id} was erased; its data key is destroyed", kind="erased")
    if key is None:
        raise Problem(404, f"No data key for {participant_id}", kind="not-found")
    return {"participant_id": str(pid), "alg": "A256GCM", "key": base64.urlsafe_b64encode(key).decode().rstrip("=")}
