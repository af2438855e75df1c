"""What registration does on a command: state change and its event, in one transaction.

Every write runs through ``execute``: with an Idempotency-Key the key is claimed in the same transaction
as the effect and the response is stored with it, so a retry replays the response and publishes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pydantic import ValidationError

from services.registration.adapters import repository
from services.registration.domain import geo, rules
from services.registration.domain.model import (
    ActivityIn,
    CancelIn,
    CompletionIn,
    ExchangeIn,
    JoinIn,
    ParticipantIn,
    ParticipantPatch,
    changed_fields,
)
from shared.auth import Caller
from shared import privacy
from shared.events.catalogue import (
    ActivityCreated,
    ActivityParticipantJoined,
    ExchangeApplied,
    ExchangeApproved,
    ExchangeCancelledV2,
    ExchangeCompleted,
    MeetingSettings,
    OfferOrRequest,
    ParticipantErased,
    ParticipantRegisteredV2,
    ParticipantUpdatedV2,
    Profile,
    split_profile,
)
from shared.messaging import outbox
from shared.problems import Problem

SOURCE = "/cxc/registration"


@dataclass
class Reply:
    status: int
    body: Any
    location: str | None = None
    participant_id: uuid.UUID | None = None  # whose data the body may echo (erasure forgets it)
    replayed: bool = False
    participant_ids: list[uuid.UUID] | None = None  # a batch: each item's participant (erasure blanks its item)


@dataclass(frozen=True)
class Idempotency:
    api_key_id: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Context:
    caller: Caller
    correlation_id: str | None = None
    settings: Any = field(default=None, compare=False)

    async def publish(self, conn: asyncpg.Connection, event) -> None:
        await outbox.record(conn, event, source=SOURCE, correlation_id=self.correlation_id)


Work = Callable[[asyncpg.Connection], Awaitable[Reply]]


async def execute(pool: asyncpg.Pool, idem: Idempotency | None, work: Work) -> Reply:
    async with pool.acquire() as conn, conn.transaction():
        if idem is not None:
            stored = await repository.claim_idempotency_key(conn, idem.api_key_id, idem.key, idem.fingerprint)
            if stored is not None:
                if stored["fingerprint"] != idem.fingerprint:
                    raise Problem(
                        422, "This Idempotency-Key was used with a different request", kind="idempotency-key-reused"
                    )
                if stored["status"] == 410 and stored["body"] is None:
                    # Erasure blanked it. Re-running the request instead could re-register the erased
                    # person; answering the old body would hand back their data. 410 says: it was applied,
                    # and what it was about no longer exists.
                    raise Problem(410, "The participant this request concerned was erased; its response is gone",
                                  kind="erased")
                return Reply(stored["status"], json.loads(stored["body"]), stored["location"], replayed=True)
        reply = await work(conn)
        if idem is not None:
            await repository.store_response(
                conn, idem.api_key_id, idem.key, reply.status, reply.body, reply.location, reply.participant_id,
                reply.participant_ids,
            )
        return reply


def not_found(what: str, ident: Any) -> Problem:
    return Problem(404, f"No {what} {ident}", kind="not-found")


def conflict(detail: str, kind: str = "conflict") -> Problem:
    return Problem(409, detail, kind=kind)


def rule_broken(field_name: str, message: str) -> Problem:
    return Problem(
        422, message, kind="rule-violation", title="Programme rule violated",
        errors=[{"field": field_name, "message": message, "type": "rule"}],
    )


# --- views ---------------------------------------------------------------------------------------


def _json_list(v) -> list:
    return json.loads(v) if isinstance(v, str) else list(v)


def profile_of(row: asyncpg.Record | dict[str, Any]) -> Profile:
    return Profile(
        cluster_id=row["cluster_id"], kind=row["kind"], name=row["name"], country=row["country"].strip(),
        city=row["city"], employees=row["employees"], website=row["website"], sectors=tuple(row["sectors"]),
        keywords=tuple(row["keywords"]), offers=tuple(OfferOrRequest(**o) for o in _json_list(row["offers"])),
        requests=tuple(OfferOrRequest(**o) for o in _json_list(row["requests"])),
        marketing_consent=row["marketing_consent"],
    )


async def _sealed_profile(conn: asyncpg.Connection, pid: uuid.UUID, row) -> dict[str, Any]:
    """The profile as events carry it: classification in clear, personal fields sealed with the
    participant's data key (erasure destroys the key; see shared/privacy.py)."""
    public, personal = split_profile(profile_of(row))
    key = await repository.data_key(conn, pid, privacy.new_data_key())
    return {"profile": public,
            "personal": privacy.seal(key, str(pid), privacy.PROFILE, personal.model_dump(mode="json"))}


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
        "offers": _json_list(row["offers"]),
        "requests": _json_list(row["requests"]),
        "consent": {"data_processing": True, "marketing": row["marketing_consent"]},
        "created_at": row["created_at"].isoformat(),
    }
    if "contact_email" in row.keys() and row["contact_email"] is not None:
        out["contact"] = {
            "name": row["contact_name"], "email": row["contact_email"], "phone": row["contact_phone"],
            "language": row["contact_language"],
        }
    return out


def _contact_of(row) -> dict | None:
    if row["contact_email"] is None:
        return None
    return {"name": row["contact_name"], "email": row["contact_email"], "phone": row["contact_phone"],
            "language": row["contact_language"]}


def activity_json(row: asyncpg.Record, joined: int | None = None) -> dict:
    out = {
        "id": str(row["id"]), "kind": row["kind"], "title": row["title"], "host_cluster_id": row["host_cluster_id"],
        "city": row["city"], "country": row["country"].strip(), "starts_on": row["starts_on"].isoformat(),
        "ends_on": row["ends_on"].isoformat(), "online": row["online"], "capacity": row["capacity"],
        "meetings": json.loads(row["meetings"]) if row["meetings"] else None,
    }
    if joined is not None:
        out["participants"] = joined
    return out


def exchange_json(row: asyncpg.Record) -> dict:
    out = {
        "id": str(row["id"]), "participant_id": str(row["participant_id"]),
        "sending_cluster_id": row["sending_cluster_id"], "host_cluster_id": row["host_cluster_id"],
        "activity_id": str(row["activity_id"]) if row["activity_id"] else None, "kind": row["kind"],
        "start_date": row["start_date"].isoformat(), "end_date": row["end_date"].isoformat(),
        "working_days": row["working_days"], "goals": row["goals"], "status": row["status"],
        "lump_sum_eur": row["lump_sum_eur"],
        "distance_km": float(row["distance_km"]) if row["distance_km"] is not None else None,
        "approved_at": row["approved_at"].isoformat() if row["approved_at"] else None,
        "cancelled_at": row["cancelled_at"].isoformat() if row["cancelled_at"] else None,
        "cancel_reason": row["cancel_reason"],
    }
    if row["status"] == "completed":
        out["completion"] = {
            "completed_on": row["completed_on"].isoformat(), "working_days": row["days_worked"],
            "meetings_held": row["meetings_held"], "satisfaction": row["satisfaction"],
            "outcomes": list(row["outcomes"]), "testimonial": row["testimonial"],
        }
    return out


# --- participants --------------------------------------------------------------------------------


async def register_participant(
    conn: asyncpg.Connection, ctx: Context, body: ParticipantIn, cluster_id: str
) -> Reply:
    """201 for a new participant; 200 with the existing one when its ``external_ref`` is known."""
    if not await repository.cluster_exists(conn, cluster_id):
        raise Problem(422, f"Cluster {cluster_id!r} does not exist", kind="unknown-cluster")
    pid = uuid.uuid4()
    row = await repository.insert_participant(conn, pid, cluster_id, body.model_dump(mode="json"))
    status = 201
    if row is None:
        row, status = await repository.participant_by_ref(conn, cluster_id, body.external_ref), 200
    else:
        await ctx.publish(conn, ParticipantRegisteredV2(
            participant_id=str(pid), **await _sealed_profile(conn, pid, row), registered_at=datetime.now(UTC)))
    return Reply(status, participant_json(row), f"/v1/participants/{row['id']}", row["id"])


def target_cluster(who: Caller, requested: str | None) -> str:
    if who.role == "partner":
        if requested not in (None, who.cluster_id):
            raise Problem(403, "A partner key registers into its own cluster only", kind="forbidden")
        return who.cluster_id
    if requested is None:
        raise Problem(
            422, "A coordinator must pass cluster_id", kind="validation-error", title="Validation failed",
            errors=[{"field": "cluster_id", "message": "required for coordinator keys", "type": "missing"}],
        )
    return requested


async def register_batch(conn: asyncpg.Connection, ctx: Context, items: list[dict[str, Any]]) -> Reply:
    """Each item in its own savepoint: one bad item gets its own problem, the others still register."""
    results, counts, subjects = [], {"created": 0, "existing": 0, "failed": 0}, []
    for index, raw in enumerate(items):
        try:
            body = ParticipantIn.model_validate(raw)
            cluster_id = target_cluster(ctx.caller, body.cluster_id)
            async with conn.transaction():
                reply = await register_participant(conn, ctx, body, cluster_id)
        except ValidationError as exc:
            errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"], "type": e["type"]}
                      for e in exc.errors(include_url=False, include_context=False, include_input=False)]
            results.append({"index": index, "status": 422, "problem": {
                "title": "Validation failed", "detail": "The item is invalid", "errors": errors}})
            counts["failed"] += 1
            continue
        except Problem as exc:
            results.append({"index": index, "status": exc.status, "problem": {
                "title": exc.title, "detail": exc.detail, **exc.extra}})
            counts["failed"] += 1
            continue
        counts["created" if reply.status == 201 else "existing"] += 1
        subjects.append(reply.participant_id)
        results.append({"index": index, "status": reply.status, "id": reply.body["id"],
                        "external_ref": reply.body["external_ref"]})
    return Reply(200, {**counts, "results": results}, participant_ids=subjects)


async def _visible_participant(conn, who: Caller, pid: uuid.UUID, *, lock: bool = False):
    row = await (repository.lock_participant(conn, pid) if lock else repository.get_participant(conn, pid))
    if row is None or row["status"] == "erased" or not who.can_see(row["cluster_id"]):
        raise not_found("participant", pid)
    return row


async def update_participant(conn: asyncpg.Connection, ctx: Context, pid: uuid.UUID, patch: ParticipantPatch) -> Reply:
    row = await _visible_participant(conn, ctx.caller, pid, lock=True)
    changes = patch.changes()
    before = {**participant_json(row), "marketing_consent": row["marketing_consent"], "contact": _contact_of(row)}
    changed = changed_fields(before, changes)
    if not changed:
        return Reply(200, participant_json(row), participant_id=pid)
    row = await repository.update_participant(conn, pid, {k: changes[k] for k in changed})
    await ctx.publish(conn, ParticipantUpdatedV2(
        participant_id=str(pid), **await _sealed_profile(conn, pid, row), changed=tuple(changed)))
    return Reply(200, participant_json(row), participant_id=pid)


async def erase_participant(conn: asyncpg.Connection, ctx: Context, pid: uuid.UUID) -> Reply:
    """GDPR erasure. An open exchange is cancelled first (its event precedes participant.erased), then
    the contact data goes; the anonymous participant row stays so counts and exchanges remain valid."""
    row = await repository.lock_participant(conn, pid)
    if row is None or not ctx.caller.can_see(row["cluster_id"]):
        raise not_found("participant", pid)
    body = {"id": str(pid), "status": "erased"}
    if row["status"] == "erased":
        return Reply(202, body)
    if (x := await repository.open_exchange_of(conn, pid)) is not None:
        await _cancel(conn, ctx, x, "participant erased (GDPR)")
    await repository.erase_participant(conn, pid)
    await ctx.publish(conn, ParticipantErased(participant_id=str(pid), cluster_id=row["cluster_id"],
                                              erased_at=datetime.now(UTC)))
    return Reply(202, body)


# --- activities ----------------------------------------------------------------------------------


async def create_activity(conn: asyncpg.Connection, ctx: Context, body: ActivityIn) -> Reply:
    if ctx.caller.role == "partner" and body.host_cluster_id != ctx.caller.cluster_id:
        raise Problem(403, "A partner key creates activities hosted by its own cluster only", kind="forbidden")
    if not await repository.cluster_exists(conn, body.host_cluster_id):
        raise rule_broken("host_cluster_id", f"Cluster {body.host_cluster_id!r} does not exist")
    aid = uuid.uuid4()
    row = await repository.insert_activity(conn, aid, body.model_dump())
    await ctx.publish(conn, ActivityCreated(
        activity_id=str(aid), kind=body.kind, title=body.title, host_cluster_id=body.host_cluster_id,
        city=body.city, country=body.country, starts_on=body.starts_on, ends_on=body.ends_on, online=body.online,
        capacity=body.capacity, meetings=MeetingSettings(**body.meetings.model_dump()) if body.meetings else None,
    ))
    return Reply(201, activity_json(row), f"/v1/activities/{aid}")


async def join_activity(conn: asyncpg.Connection, ctx: Context, aid: uuid.UUID, body: JoinIn) -> Reply:
    activity = await repository.get_activity(conn, aid, lock=True)  # serialises joins against the capacity
    if activity is None:
        raise not_found("activity", aid)
    await _visible_participant(conn, ctx.caller, body.participant_id)
    if activity["capacity"] is not None and await repository.count_activity_participants(conn, aid) >= activity["capacity"]:
        raise conflict(f"Activity {aid} is full ({activity['capacity']} participants)", "activity-full")
    unavailable = [[s.isoformat(), e.isoformat()] for s, e in body.unavailable]
    if await repository.join_activity(conn, aid, body.participant_id, unavailable) is None:
        raise conflict(f"Participant {body.participant_id} already joined activity {aid}", "already-joined")
    await ctx.publish(conn, ActivityParticipantJoined(
        activity_id=str(aid), participant_id=str(body.participant_id), unavailable=tuple(body.unavailable)))
    return Reply(201, {"activity_id": str(aid), "participant_id": str(body.participant_id), "unavailable": unavailable},
                 f"/v1/activities/{aid}", body.participant_id)


# --- exchanges -----------------------------------------------------------------------------------


async def apply_exchange(conn: asyncpg.Connection, ctx: Context, body: ExchangeIn) -> Reply:
    participant = await _visible_participant(conn, ctx.caller, body.participant_id, lock=True)
    sending = participant["cluster_id"]
    if ctx.caller.role == "partner" and ctx.caller.cluster_id != sending:
        raise not_found("participant", body.participant_id)
    if body.host_cluster_id == sending:
        raise rule_broken("host_cluster_id", "The host cluster must differ from the participant's (sending) cluster")
    if not await repository.cluster_exists(conn, body.host_cluster_id):
        raise rule_broken("host_cluster_id", f"Cluster {body.host_cluster_id!r} does not exist")
    if body.activity_id is not None and await repository.get_activity(conn, body.activity_id) is None:
        raise rule_broken("activity_id", f"Activity {body.activity_id} does not exist")
    try:
        days = rules.check_exchange_period(body.start_date, body.end_date)
    except rules.RuleViolation as exc:
        raise rule_broken(exc.field, str(exc)) from None
    xid = uuid.uuid4()
    row = await repository.insert_exchange(conn, xid, {
        **body.model_dump(), "sending_cluster_id": sending, "working_days": days})
    if row is None:
        raise conflict(f"Participant {body.participant_id} already takes part in an exchange", "one-exchange-only")
    await ctx.publish(conn, ExchangeApplied(
        exchange_id=str(xid), participant_id=str(body.participant_id), participant_kind=participant["kind"],
        sending_cluster_id=sending, host_cluster_id=body.host_cluster_id,
        activity_id=str(body.activity_id) if body.activity_id else None, kind=body.kind,
        start_date=body.start_date, end_date=body.end_date, working_days=days,
    ))
    return Reply(201, exchange_json(row), f"/v1/exchanges/{xid}", body.participant_id)


async def _visible_exchange(conn, who: Caller, xid: uuid.UUID):
    row = await repository.get_exchange(conn, xid, lock=True)
    if row is None or not (who.can_see(row["sending_cluster_id"]) or who.can_see(row["host_cluster_id"])):
        raise not_found("exchange", xid)
    return row


async def _route_distance(conn, x) -> tuple[float | None, str]:
    participant = await repository.get_participant(conn, x["participant_id"])
    sending = await repository.cluster(conn, x["sending_cluster_id"])
    host = await repository.cluster(conn, x["host_cluster_id"])
    activity = await repository.get_activity(conn, x["activity_id"]) if x["activity_id"] else None
    if participant["city"]:
        origin = (participant["city"], participant["country"])
    else:
        origin = (sending["city"], sending["country"])
    destination = (activity["city"], activity["country"]) if activity and activity["city"] else (host["city"], host["country"])
    return geo.distance_km(*origin, *destination), host["country"].strip()


async def approve_exchange(conn: asyncpg.Connection, ctx: Context, xid: uuid.UUID) -> Reply:
    x = await _visible_exchange(conn, ctx.caller, xid)
    if x["status"] != "applied":
        raise conflict(f"Exchange {xid} is {x['status']}; only an applied exchange can be approved", "invalid-state")
    distance, host_country = await _route_distance(conn, x)
    s = ctx.settings
    lump = rules.lump_sum(host_country, x["working_days"], distance, s.lump_sum_caps_eur, s.lump_sum_default_cap_eur)
    now = datetime.now(UTC)
    row = await repository.set_exchange(conn, xid, status="approved", lump_sum_eur=lump.eur,
                                        distance_km=lump.distance_km, approved_at=now)
    await ctx.publish(conn, ExchangeApproved(
        exchange_id=str(xid), participant_id=str(x["participant_id"]), sending_cluster_id=x["sending_cluster_id"],
        host_cluster_id=x["host_cluster_id"], lump_sum_eur=lump.eur, approved_at=now))
    body = {**exchange_json(row), "lump_sum": {"cap_eur": lump.cap_eur, "halved": lump.halved,
                                               "reasons": list(lump.reasons)}}
    return Reply(200, body, participant_id=x["participant_id"])


async def _cancel(conn, ctx: Context, x, reason: str | None):
    row = await repository.set_exchange(conn, x["id"], status="cancelled", cancelled_at=datetime.now(UTC),
                                        cancel_reason=reason)
    sealed = None
    if reason is not None:  # free text a partner typed about the person: sealed like the profile
        key = await repository.data_key(conn, x["participant_id"], privacy.new_data_key())
        sealed = privacy.seal(key, str(x["participant_id"]), privacy.EXCHANGE_REASON, {"text": reason})
    await ctx.publish(conn, ExchangeCancelledV2(
        exchange_id=str(x["id"]), participant_id=str(x["participant_id"]), sending_cluster_id=x["sending_cluster_id"],
        host_cluster_id=x["host_cluster_id"], previous_status=x["status"], reason=sealed))
    return row


def _sending_side(who: Caller, x) -> None:
    if who.role == "partner" and who.cluster_id != x["sending_cluster_id"]:
        raise Problem(403, "Only the sending cluster or a coordinator can do this", kind="forbidden")


async def cancel_exchange(conn: asyncpg.Connection, ctx: Context, xid: uuid.UUID, body: CancelIn) -> Reply:
    x = await _visible_exchange(conn, ctx.caller, xid)
    _sending_side(ctx.caller, x)
    if x["status"] not in ("applied", "approved"):
        raise conflict(f"Exchange {xid} is {x['status']} and cannot be cancelled", "invalid-state")
    return Reply(200, exchange_json(await _cancel(conn, ctx, x, body.reason)), participant_id=x["participant_id"])


async def complete_exchange(conn: asyncpg.Connection, ctx: Context, xid: uuid.UUID, body: CompletionIn) -> Reply:
    x = await _visible_exchange(conn, ctx.caller, xid)
    _sending_side(ctx.caller, x)
    if x["status"] != "approved":
        raise conflict(f"Exchange {xid} is {x['status']}; only an approved exchange can be completed", "invalid-state")
    if body.completed_on < x["start_date"]:
        raise rule_broken("completed_on", f"completed_on is before the exchange started ({x['start_date']})")
    row = await repository.set_exchange(
        conn, xid, status="completed", completed_on=body.completed_on, days_worked=body.working_days,
        meetings_held=body.meetings_held, satisfaction=body.satisfaction, outcomes=list(body.outcomes),
        testimonial=body.testimonial,
    )
    await ctx.publish(conn, ExchangeCompleted(
        exchange_id=str(xid), participant_id=str(x["participant_id"]), sending_cluster_id=x["sending_cluster_id"],
        host_cluster_id=x["host_cluster_id"], completed_on=body.completed_on, working_days=body.working_days,
        meetings_held=body.meetings_held, satisfaction=body.satisfaction, outcomes=tuple(body.outcomes),
        lump_sum_eur=x["lump_sum_eur"]))
    return Reply(200, exchange_json(row), participant_id=x["participant_id"])
