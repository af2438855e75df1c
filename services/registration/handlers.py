"""What registration does on a command: the state change and its event, on the handler contract
(shared/unit_of_work.py).

Each handler takes the unit of work (``uow.repo``, ``uow.publish``, ``uow.savepoint``, ``uow.caller``) and the
command, raises domain errors (shared/errors.py) and returns domain results: rows and the small dataclasses
below. It neither opens the transaction (entrypoints/writes.py does, with the Idempotency-Key claim) nor
shapes JSON (entrypoints/views.py). Who may see what is decided by domain/visibility.py, for reads and
writes alike; the exchange lifecycle by the state machine in domain/exchange.py.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from services.registration.adapters.repository import Repository
from services.registration.domain import exchange, geo, rules, visibility
from services.registration.domain.model import (
    ActivityIn,
    CancelIn,
    CompletionIn,
    ExchangeIn,
    JoinIn,
    ParticipantIn,
    ParticipantPatch,
    changed_fields,
    decode_cursor,
    encode_cursor,
)
from shared import privacy
from shared.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, RuleBroken
from shared.events.catalogue import (
    ActivityCreated,
    ActivityParticipantJoined,
    ExchangeCancelledV2,
    MeetingSettings,
    OfferOrRequest,
    ParticipantErased,
    ParticipantRegisteredV2,
    ParticipantUpdatedV2,
    Profile,
    split_profile,
)
from shared.unit_of_work import Caller, UnitOfWork

SOURCE = "/cxc/registration"

Uow = UnitOfWork[Repository]


@dataclass(frozen=True)
class Registered:
    row: Any
    created: bool  # False: the external_ref was known, ``row`` is the existing participant


@dataclass(frozen=True)
class BatchItem:
    index: int
    registered: Registered | None = None
    error: DomainError | ValidationError | None = None


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None


@dataclass(frozen=True)
class Joined:
    activity_id: uuid.UUID
    participant_id: uuid.UUID
    unavailable: list[list[str]]


@dataclass(frozen=True)
class Approved:
    row: Any
    lump: rules.LumpSum


def _json_list(v) -> list:
    return json.loads(v) if isinstance(v, str) else list(v)


def profile_of(row: Any) -> Profile:
    return Profile(
        cluster_id=row["cluster_id"], kind=row["kind"], name=row["name"], country=row["country"].strip(),
        city=row["city"], employees=row["employees"], website=row["website"], sectors=tuple(row["sectors"]),
        keywords=tuple(row["keywords"]), offers=tuple(OfferOrRequest(**o) for o in _json_list(row["offers"])),
        requests=tuple(OfferOrRequest(**o) for o in _json_list(row["requests"])),
        marketing_consent=row["marketing_consent"],
    )


def _stored(row: Any) -> dict[str, Any]:
    """The participant's current values as a patch states them, to tell which fields a patch changes."""
    contact = None if row["contact_email"] is None else {
        "name": row["contact_name"], "email": row["contact_email"], "phone": row["contact_phone"],
        "language": row["contact_language"]}
    return {"kind": row["kind"], "name": row["name"], "country": row["country"].strip(), "city": row["city"],
            "employees": row["employees"], "website": row["website"], "sectors": list(row["sectors"]),
            "keywords": list(row["keywords"]), "offers": _json_list(row["offers"]),
            "requests": _json_list(row["requests"]), "marketing_consent": row["marketing_consent"],
            "contact": contact}


async def _sealed_profile(uow: Uow, pid: uuid.UUID, row) -> dict[str, Any]:
    """The profile as events carry it: classification in clear, personal fields sealed with the
    participant's data key (erasure destroys the key; see shared/privacy.py)."""
    public, personal = split_profile(profile_of(row))
    key = await uow.repo.data_key(pid, privacy.new_data_key())
    return {"profile": public,
            "personal": privacy.seal(key, str(pid), privacy.PROFILE, personal.model_dump(mode="json"))}


# --- participants --------------------------------------------------------------------------------


def target_cluster(who: Caller, requested: str | None) -> str:
    if who.role == "partner":
        if requested not in (None, who.cluster_id):
            raise Forbidden("A partner key registers into its own cluster only")
        return who.cluster_id
    if requested is None:
        raise Invalid("cluster_id", "required for coordinator keys", detail="A coordinator must pass cluster_id",
                      error_type="missing")
    return requested


async def register_participant(uow: Uow, body: ParticipantIn) -> Registered:
    """A new participant, or the existing one when its ``external_ref`` is known in the cluster."""
    cluster_id = target_cluster(uow.caller, body.cluster_id)
    if not await uow.repo.cluster_exists(cluster_id):
        raise RuleBroken(None, f"Cluster {cluster_id!r} does not exist", kind="unknown-cluster", title=None)
    pid = uuid.uuid4()
    row = await uow.repo.insert_participant(pid, cluster_id, body.model_dump(mode="json"))
    if row is None:
        return Registered(await uow.repo.participant_by_ref(cluster_id, body.external_ref), created=False)
    await uow.publish(ParticipantRegisteredV2(
        participant_id=str(pid), **await _sealed_profile(uow, pid, row), registered_at=datetime.now(UTC)))
    return Registered(row, created=True)


async def register_batch(uow: Uow, items: list[dict[str, Any]]) -> list[BatchItem]:
    """Each item in its own savepoint: one bad item gets its own error, the others still register."""
    outcomes = []
    for index, raw in enumerate(items):
        try:
            body = ParticipantIn.model_validate(raw)
            async with uow.savepoint():
                outcomes.append(BatchItem(index, registered=await register_participant(uow, body)))
        except (ValidationError, DomainError) as exc:
            outcomes.append(BatchItem(index, error=exc))
    return outcomes


async def visible_participant(uow: Uow, pid: uuid.UUID, *, lock: bool = False):
    row = await uow.repo.get_participant(pid, lock=lock)
    if not visibility.sees_participant(uow.caller, row):
        raise NotFound.of("participant", pid)
    return row


async def list_participants(uow: Uow, *, kind: str | None, country: str | None, cluster_id: str | None,
                            limit: int, cursor: str | None) -> Page:
    """Oldest first, ``limit`` at a time; ``next_cursor`` continues after the last one."""
    try:
        after = decode_cursor(cursor) if cursor else None
    except ValueError as exc:
        raise Invalid("cursor", str(exc)) from None
    scope = visibility.participant_listing(uow.caller, cluster_id)
    if scope is False:
        return Page([], None)
    rows = await uow.repo.list_participants(
        cluster_id=scope, kind=kind, country=country.upper() if country else None, after=after, limit=limit + 1)
    page = rows[:limit]
    more = len(rows) > limit
    return Page(page, encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None)


async def update_participant(uow: Uow, pid: uuid.UUID, patch: ParticipantPatch):
    row = await visible_participant(uow, pid, lock=True)
    changes = patch.changes()
    changed = changed_fields(_stored(row), changes)
    if not changed:
        return row
    row = await uow.repo.update_participant(pid, {k: changes[k] for k in changed})
    await uow.publish(ParticipantUpdatedV2(
        participant_id=str(pid), **await _sealed_profile(uow, pid, row), changed=tuple(changed)))
    return row


async def erase_participant(uow: Uow, pid: uuid.UUID) -> None:
    """GDPR erasure, idempotent. An open exchange is cancelled first (its event precedes participant.erased),
    then the contact data goes; the anonymous participant row stays so counts and exchanges remain valid."""
    row = await uow.repo.get_participant(pid, lock=True)
    if row is None or not uow.caller.can_see(row["cluster_id"]):
        raise NotFound.of("participant", pid)
    if row["status"] == "erased":
        return
    if (x := await uow.repo.open_exchange_of(pid)) is not None:
        await _cancel(uow, x, "participant erased (GDPR)")
    await uow.repo.erase_participant(pid)
    await uow.publish(ParticipantErased(participant_id=str(pid), cluster_id=row["cluster_id"],
                                        erased_at=datetime.now(UTC)))


# --- activities ----------------------------------------------------------------------------------


async def create_activity(uow: Uow, body: ActivityIn):
    if uow.caller.role == "partner" and body.host_cluster_id != uow.caller.cluster_id:
        raise Forbidden("A partner key creates activities hosted by its own cluster only")
    if not await uow.repo.cluster_exists(body.host_cluster_id):
        raise RuleBroken("host_cluster_id", f"Cluster {body.host_cluster_id!r} does not exist")
    aid = uuid.uuid4()
    row = await uow.repo.insert_activity(aid, body.model_dump())
    await uow.publish(ActivityCreated(
        activity_id=str(aid), kind=body.kind, title=body.title, host_cluster_id=body.host_cluster_id,
        city=body.city, country=body.country, starts_on=body.starts_on, ends_on=body.ends_on, online=body.online,
        capacity=body.capacity, meetings=MeetingSettings(**body.meetings.model_dump()) if body.meetings else None,
    ))
    return row


async def list_activities(uow: Uow, kind: str | None) -> list[Any]:
    return await uow.repo.list_activities(kind)


async def get_activity(uow: Uow, aid: uuid.UUID) -> tuple[Any, int]:
    """The activity and how many participants joined it."""
    row = await uow.repo.get_activity(aid)
    if row is None:
        raise NotFound.of("activity", aid)
    return row, await uow.repo.count_activity_participants(aid)


async def join_activity(uow: Uow, aid: uuid.UUID, body: JoinIn) -> Joined:
    activity = await uow.repo.get_activity(aid, lock=True)  # serialises joins against the capacity
    if activity is None:
        raise NotFound.of("activity", aid)
    await visible_participant(uow, body.participant_id)
    if activity["capacity"] is not None and await uow.repo.count_activity_participants(aid) >= activity["capacity"]:
        raise Conflict(f"Activity {aid} is full ({activity['capacity']} participants)", kind="activity-full")
    unavailable = [[s.isoformat(), e.isoformat()] for s, e in body.unavailable]
    if await uow.repo.join_activity(aid, body.participant_id, unavailable) is None:
        raise Conflict(f"Participant {body.participant_id} already joined activity {aid}", kind="already-joined")
    await uow.publish(ActivityParticipantJoined(
        activity_id=str(aid), participant_id=str(body.participant_id), unavailable=tuple(body.unavailable)))
    return Joined(aid, body.participant_id, unavailable)


# --- exchanges -----------------------------------------------------------------------------------


async def apply_exchange(uow: Uow, body: ExchangeIn):
    participant = await visible_participant(uow, body.participant_id, lock=True)
    sending = participant["cluster_id"]
    if body.host_cluster_id == sending:
        raise RuleBroken("host_cluster_id", "The host cluster must differ from the participant's (sending) cluster")
    if not await uow.repo.cluster_exists(body.host_cluster_id):
        raise RuleBroken("host_cluster_id", f"Cluster {body.host_cluster_id!r} does not exist")
    if body.activity_id is not None and await uow.repo.get_activity(body.activity_id) is None:
        raise RuleBroken("activity_id", f"Activity {body.activity_id} does not exist")
    try:
        days = rules.check_exchange_period(body.start_date, body.end_date)
    except rules.RuleViolation as exc:
        raise RuleBroken(exc.field, str(exc)) from None
    xid = uuid.uuid4()
    step = exchange.step("apply", xid, None)
    row = await uow.repo.insert_exchange(xid, {
        **body.model_dump(), "sending_cluster_id": sending, "working_days": days})
    if row is None:
        raise Conflict(f"Participant {body.participant_id} already takes part in an exchange", kind="one-exchange-only")
    await uow.publish(step.event(
        exchange_id=str(xid), participant_id=str(body.participant_id), participant_kind=participant["kind"],
        sending_cluster_id=sending, host_cluster_id=body.host_cluster_id,
        activity_id=str(body.activity_id) if body.activity_id else None, kind=body.kind,
        start_date=body.start_date, end_date=body.end_date, working_days=days,
    ))
    return row


async def visible_exchange(uow: Uow, xid: uuid.UUID, *, lock: bool = False):
    row = await uow.repo.get_exchange(xid, lock=lock)
    if not visibility.sees_exchange(uow.caller, row):
        raise NotFound.of("exchange", xid)
    return row


async def list_exchanges(uow: Uow, status: str | None) -> list[Any]:
    return await uow.repo.list_exchanges(cluster_id=visibility.exchange_listing(uow.caller), status=status)


async def _route_distance(uow: Uow, x) -> tuple[float | None, str]:
    participant = await uow.repo.get_participant(x["participant_id"])
    sending = await uow.repo.cluster(x["sending_cluster_id"])
    host = await uow.repo.cluster(x["host_cluster_id"])
    activity = await uow.repo.get_activity(x["activity_id"]) if x["activity_id"] else None
    if participant["city"]:
        origin = (participant["city"], participant["country"])
    else:
        origin = (sending["city"], sending["country"])
    destination = (activity["city"], activity["country"]) if activity and activity["city"] else (host["city"], host["country"])
    return geo.distance_km(*origin, *destination), host["country"].strip()


async def approve_exchange(uow: Uow, xid: uuid.UUID, caps_eur: dict[str, int], default_cap_eur: int) -> Approved:
    x = await visible_exchange(uow, xid, lock=True)
    step = exchange.step("approve", xid, x["status"])
    distance, host_country = await _route_distance(uow, x)
    lump = rules.lump_sum(host_country, x["working_days"], distance, caps_eur, default_cap_eur)
    now = datetime.now(UTC)
    row = await uow.repo.set_exchange(xid, status=step.target.value, lump_sum_eur=lump.eur,
                                      distance_km=lump.distance_km, approved_at=now)
    await uow.publish(step.event(
        exchange_id=str(xid), participant_id=str(x["participant_id"]), sending_cluster_id=x["sending_cluster_id"],
        host_cluster_id=x["host_cluster_id"], lump_sum_eur=lump.eur, approved_at=now))
    return Approved(row, lump)


async def _cancel(uow: Uow, x, reason: str | None):
    step = exchange.step("cancel", x["id"], x["status"])
    row = await uow.repo.set_exchange(x["id"], status=step.target.value, cancelled_at=datetime.now(UTC),
                                      cancel_reason=reason)
    sealed = None
    if reason is not None:  # free text a partner typed about the person: sealed like the profile
        key = await uow.repo.data_key(x["participant_id"], privacy.new_data_key())
        sealed = privacy.seal(key, str(x["participant_id"]), privacy.EXCHANGE_REASON, {"text": reason})
    event: ExchangeCancelledV2 = step.event(
        exchange_id=str(x["id"]), participant_id=str(x["participant_id"]), sending_cluster_id=x["sending_cluster_id"],
        host_cluster_id=x["host_cluster_id"], previous_status=x["status"], reason=sealed)
    await uow.publish(event)
    return row


def _sending_side(who: Caller, x) -> None:
    if who.role == "partner" and who.cluster_id != x["sending_cluster_id"]:
        raise Forbidden("Only the sending cluster or a coordinator can do this")


async def cancel_exchange(uow: Uow, xid: uuid.UUID, body: CancelIn):
    x = await visible_exchange(uow, xid, lock=True)
    _sending_side(uow.caller, x)
    return await _cancel(uow, x, body.reason)


async def complete_exchange(uow: Uow, xid: uuid.UUID, body: CompletionIn):
    x = await visible_exchange(uow, xid, lock=True)
    _sending_side(uow.caller, x)
    step = exchange.step("complete", xid, x["status"])
    if body.completed_on < x["start_date"]:
        raise RuleBroken("completed_on", f"completed_on is before the exchange started ({x['start_date']})")
    row = await uow.repo.set_exchange(
        xid, status=step.target.value, completed_on=body.completed_on, days_worked=body.working_days,
        meetings_held=body.meetings_held, satisfaction=body.satisfaction, outcomes=list(body.outcomes),
        testimonial=body.testimonial,
    )
    await uow.publish(step.event(
        exchange_id=str(xid), participant_id=str(x["participant_id"]), sending_cluster_id=x["sending_cluster_id"],
        host_cluster_id=x["host_cluster_id"], completed_on=body.completed_on, working_days=body.working_days,
        meetings_held=body.meetings_held, satisfaction=body.satisfaction, outcomes=tuple(body.outcomes),
        lump_sum_eur=x["lump_sum_eur"]))
    return row
