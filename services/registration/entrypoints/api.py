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
)
from services.registration.domain.programme import ClusterIn, ClusterPatch
from services.registration.entrypoints import views
from services.registration.entrypoints.idempotency import IdempotencyDep
from services.registration.entrypoints.writes import Reply, execute, read
from services.registration.domain.exchange import STATES
from shared.auth import CallerDep, CoordinatorDep, WriterDep, public
from shared.errors import NotFound
from shared.unit_of_work import Caller
from shared.gate import gate_connection, on_gate_connection, spend
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
        raise NotFound.of(what, value) from None


# The X-Correlation-ID header parameters document the header in the OpenAPI; the value itself is validated
# (or replaced) by the correlation middleware, and the outbox takes it from there.


async def _write(request: Request, who: Caller, idem, work) -> JSONResponse:
    """Open the unit of work (with the Idempotency-Key claim) and answer the handler's result as shaped by
    ``work``; domain errors become problem+json in the service runtime."""
    return _respond(await execute(pool_of(request), who, idem, work, gate_connection(request)))


async def _read(request: Request, who: Caller, work):
    return await read(pool_of(request), who, work, gate_connection(request))


# --- clusters ------------------------------------------------------------------------------------


@router.post("/clusters", status_code=201, responses=ok(out.Cluster, 201) | problems(409, *_IDEMPOTENT))
async def create_cluster(body: ClusterIn, request: Request, who: CoordinatorDep, idem: IdempotencyDep):
    return await _write(request, who, idem, lambda uow: admin.create_cluster(uow.conn, body))


@router.patch("/clusters/{cluster_id}", responses=ok(out.Cluster) | problems(*_IDEMPOTENT))
async def update_cluster(cluster_id: str, body: ClusterPatch, request: Request, who: CoordinatorDep,
                         idem: IdempotencyDep):
    """Rename or move a cluster. Its id never changes: keys, participants and events refer to it."""
    return await _write(request, who, idem, lambda uow: admin.update_cluster(uow.conn, cluster_id, body))


@router.get("/clusters", responses=ok(list[out.Cluster]))
async def list_clusters(request: Request, who: CallerDep):
    return await _read(request, who, lambda uow: repository.list_clusters(uow.conn))


# --- participants --------------------------------------------------------------------------------


@router.post("/participants", status_code=201, responses=ok(out.Participant, 201, 200) | problems(*_IDEMPOTENT))
@on_gate_connection
async def register_participant(
    body: ParticipantIn, request: Request, who: WriterDep, idem: IdempotencyDep, correlation_id: CorrelationId = None
):
    """201 with the new participant; 200 with the existing one when ``external_ref`` is already known."""
    handlers.target_cluster(who, body.cluster_id)  # refused before the Idempotency-Key is looked at

    async def work(uow) -> Reply:
        done = await handlers.register_participant(uow, body)
        return Reply(201 if done.created else 200, views.participant_json(done.row),
                     f"/v1/participants/{done.row['id']}", done.row["id"])

    return await _write(request, who, idem, work)


@router.post("/participants:batch", status_code=200, responses=ok(out.BatchResult) | problems(*_IDEMPOTENT))
async def register_batch(
    body: ParticipantBatch, request: Request, who: WriterDep, idem: IdempotencyDep, correlation_id: CorrelationId = None
):
    """Up to 500 participants; ``results[i]`` tells what happened to ``items[i]`` (201 created, 200 known
    ``external_ref``, or a problem). Valid items are registered even when others are not."""
    await spend(request, len(body.items) - 1)

    async def work(uow) -> Reply:
        items = await handlers.register_batch(uow, body.items)
        return Reply(200, views.batch_json(items),
                     participant_ids=[i.registered.row["id"] for i in items if i.registered is not None])

    return await _write(request, who, idem, work)


@router.get("/participants", responses=ok(out.ParticipantPage))
@on_gate_connection
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
    page = await _read(request, who, lambda uow: handlers.list_participants(
        uow, kind=kind, country=country, cluster_id=cluster_id, limit=limit, cursor=cursor))
    return {"items": [views.participant_json(r) for r in page.rows], "next_cursor": page.next_cursor}


@router.get("/participants/{participant_id}", responses=ok(out.Participant))
@on_gate_connection
async def get_participant(participant_id: str, request: Request, who: CallerDep):
    pid = _id(participant_id, "participant")
    return views.participant_json(await _read(request, who, lambda uow: handlers.visible_participant(uow, pid)))


@router.patch("/participants/{participant_id}", responses=ok(out.Participant) | problems(*_IDEMPOTENT))
@on_gate_connection
async def update_participant(
    participant_id: str, body: ParticipantPatch, request: Request, who: WriterDep, idem: IdempotencyDep,
    correlation_id: CorrelationId = None,
):
    pid = _id(participant_id, "participant")

    async def work(uow) -> Reply:
        return Reply(200, views.participant_json(await handlers.update_participant(uow, pid, body)), participant_id=pid)

    return await _write(request, who, idem, work)


@router.delete("/participants/{participant_id}", status_code=202,
               responses=ok(out.Erasure, 202) | problems(*_IDEMPOTENT))
async def erase_participant(
    participant_id: str, request: Request, who: WriterDep, idem: IdempotencyDep, correlation_id: CorrelationId = None
):
    """GDPR erasure: the contact data is deleted now; an open exchange of the participant is cancelled
    first; ``participant.erased`` tells every other service to delete its copies."""
    pid = _id(participant_id, "participant")

    async def work(uow) -> Reply:
        await handlers.erase_participant(uow, pid)
        return Reply(202, {"id": str(pid), "status": "erased"})

    return await _write(request, who, idem, work)


# --- activities ----------------------------------------------------------------------------------


@router.post("/activities", status_code=201, responses=ok(out.Activity, 201) | problems(*_IDEMPOTENT))
async def create_activity(
    body: ActivityIn, request: Request, who: WriterDep, idem: IdempotencyDep, correlation_id: CorrelationId = None
):
    async def work(uow) -> Reply:
        row = await handlers.create_activity(uow, body)
        return Reply(201, views.activity_json(row), f"/v1/activities/{row['id']}")

    return await _write(request, who, idem, work)


@router.get("/activities", responses=ok(list[out.Activity]))
async def list_activities(request: Request, who: CallerDep, kind: ActivityKind | None = None):
    return [views.activity_json(r) for r in await _read(request, who, lambda uow: handlers.list_activities(uow, kind))]


@router.get("/activities/{activity_id}", responses=ok(out.Activity))
async def get_activity(activity_id: str, request: Request, who: CallerDep):
    aid = _id(activity_id, "activity")
    return views.activity_json(*await _read(request, who, lambda uow: handlers.get_activity(uow, aid)))


@router.post("/activities/{activity_id}/participants", status_code=201,
             responses=ok(out.Joined, 201) | problems(409, *_IDEMPOTENT))
async def join_activity(
    activity_id: str, body: JoinIn, request: Request, who: WriterDep, idem: IdempotencyDep,
    correlation_id: CorrelationId = None,
):
    aid = _id(activity_id, "activity")

    async def work(uow) -> Reply:
        joined = await handlers.join_activity(uow, aid, body)
        return Reply(201, views.joined_json(joined), f"/v1/activities/{aid}", joined.participant_id)

    return await _write(request, who, idem, work)


# --- exchanges -----------------------------------------------------------------------------------


@router.post("/exchanges", status_code=201,
             responses=ok(out.Exchange, 201) | problems(404, 409, *_IDEMPOTENT, s404="No such participant, or one the caller may not see"))
async def apply_exchange(
    body: ExchangeIn, request: Request, who: WriterDep, idem: IdempotencyDep, correlation_id: CorrelationId = None
):
    async def work(uow) -> Reply:
        row = await handlers.apply_exchange(uow, body)
        return Reply(201, views.exchange_json(row), f"/v1/exchanges/{row['id']}", body.participant_id)

    return await _write(request, who, idem, work)


@router.get("/exchanges", responses=ok(list[out.Exchange]))
async def list_exchanges(
    request: Request, who: CallerDep,
    status: Literal[STATES] | None = None,  # type: ignore[valid-type]  # the lifecycle's states
):
    """Partners see the exchanges their cluster sends or hosts."""
    return [views.exchange_json(r) for r in await _read(request, who, lambda uow: handlers.list_exchanges(uow, status))]


@router.get("/exchanges/{exchange_id}", responses=ok(out.Exchange))
async def get_exchange(exchange_id: str, request: Request, who: CallerDep):
    xid = _id(exchange_id, "exchange")
    return views.exchange_json(await _read(request, who, lambda uow: handlers.visible_exchange(uow, xid)))


@router.post("/exchanges/{exchange_id}/approve", responses=ok(out.ApprovedExchange) | problems(409, *_IDEMPOTENT))
async def approve_exchange(
    exchange_id: str, request: Request, who: CoordinatorDep, idem: IdempotencyDep, correlation_id: CorrelationId = None
):
    """Computes ``lump_sum_eur``: the host country's cap, halved for a stay under 5 working days or a
    distance under 200 km between the sending and host cities."""
    xid, s = _id(exchange_id, "exchange"), request.app.state.service.settings

    async def work(uow) -> Reply:
        done = await handlers.approve_exchange(uow, xid, s.lump_sum_caps_eur, s.lump_sum_default_cap_eur)
        return Reply(200, views.approved_json(done), participant_id=done.row["participant_id"])

    return await _write(request, who, idem, work)


@router.post("/exchanges/{exchange_id}/cancel", responses=ok(out.Exchange) | problems(409, *_IDEMPOTENT))
async def cancel_exchange(
    exchange_id: str, request: Request, who: WriterDep, idem: IdempotencyDep, body: CancelIn | None = None,
    correlation_id: CorrelationId = None,
):
    xid = _id(exchange_id, "exchange")

    async def work(uow) -> Reply:
        row = await handlers.cancel_exchange(uow, xid, body or CancelIn())
        return Reply(200, views.exchange_json(row), participant_id=row["participant_id"])

    return await _write(request, who, idem, work)


@router.post("/exchanges/{exchange_id}/completion", responses=ok(out.Exchange) | problems(409, *_IDEMPOTENT))
async def complete_exchange(
    exchange_id: str, body: CompletionIn, request: Request, who: WriterDep, idem: IdempotencyDep,
    correlation_id: CorrelationId = None,
):
    xid = _id(exchange_id, "exchange")

    async def work(uow) -> Reply:
        row = await handlers.complete_exchange(uow, xid, body)
        return Reply(200, views.exchange_json(row), participant_id=row["participant_id"])

    return await _write(request, who, idem, work)


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
