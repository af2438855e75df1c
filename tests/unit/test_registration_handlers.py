"""Registration's handlers on the handler contract, with the in-memory unit of work: no PostgreSQL. The
integration tests (tests/integration/test_registration_*.py) prove the same behaviour through the SQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import pytest

from services.registration import handlers
from services.registration.domain.model import (
    ActivityIn,
    CancelIn,
    CompletionIn,
    ExchangeIn,
    JoinIn,
    ParticipantIn,
    ParticipantPatch,
)
from shared.errors import Conflict, Forbidden, Invalid, NotFound, RuleBroken
from shared.events.catalogue import (
    ActivityCreated,
    ActivityParticipantJoined,
    ExchangeApplied,
    ExchangeApproved,
    ExchangeCancelledV2,
    ExchangeCompleted,
    ParticipantErased,
    ParticipantRegisteredV2,
    ParticipantUpdatedV2,
)
from shared.unit_of_work import Caller
from tests.support.fakes import FakeUnitOfWork
from tests.support.registration import FakeRepository

ALPHA = Caller("alpha", "partner", "k-alpha")
BETA = Caller("beta", "partner", "k-beta")
GAMMA = Caller("gamma", "partner", "k-gamma")
COORDINATOR = Caller("alpha", "coordinator", "k-coord")

EMAIL = "ana@firm.example"
BODY = {"kind": "sme", "name": "Firm", "country": "PL", "city": "Kraków", "sectors": ["J62.01"],
        "keywords": ["mobility"], "contact": {"name": "Ana", "email": EMAIL},
        "consent": {"data_processing": True}}
# Mon 1 June .. Fri 12 June 2026: 10 working days.
EXCHANGE = {"host_cluster_id": "beta", "kind": "sme_exchange", "start_date": "2026-06-01",
            "end_date": "2026-06-12", "goals": "Meet integrators"}
COMPLETION = {"completed_on": "2026-06-12", "working_days": 9, "meetings_held": 7, "satisfaction": 5,
              "outcomes": ["knowledge_transfer"]}
CAPS = {"ES": 1500}


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(FakeRepository(), ALPHA)


def register(uow, caller=ALPHA, **changes):
    return run(handlers.register_participant(uow.as_(caller), ParticipantIn.model_validate({**BODY, **changes})))


def apply(uow, pid, caller=ALPHA, **changes):
    return run(handlers.apply_exchange(uow.as_(caller), ExchangeIn.model_validate(
        {**EXCHANGE, "participant_id": str(pid), **changes})))


def types(uow) -> list[type]:
    return [type(e) for e in uow.published]


# --- participants ---------------------------------------------------------------------------------


def test_registering_publishes_the_profile_with_personal_fields_sealed(uow):
    done = register(uow, external_ref="crm-1")
    assert done.created and done.row["cluster_id"] == "alpha"
    assert types(uow) == [ParticipantRegisteredV2]
    assert EMAIL not in uow.published[0].model_dump_json() and "Firm" not in uow.published[0].model_dump_json()


def test_a_known_external_ref_returns_the_participant_and_publishes_nothing(uow):
    first = register(uow, external_ref="crm-1")
    again = register(uow, external_ref="crm-1", name="Other")
    assert not again.created and again.row["id"] == first.row["id"]
    assert types(uow) == [ParticipantRegisteredV2]


def test_who_registers_where(uow):
    with pytest.raises(Forbidden):
        register(uow, cluster_id="beta")
    with pytest.raises(Invalid) as missing:
        register(uow, caller=COORDINATOR)
    assert missing.value.extra["errors"][0]["field"] == "cluster_id"
    with pytest.raises(RuleBroken) as unknown:
        register(uow, caller=COORDINATOR, cluster_id="nowhere")
    assert unknown.value.kind == "unknown-cluster"
    assert register(uow, caller=COORDINATOR, cluster_id="beta").row["cluster_id"] == "beta"
    assert len(uow.published) == 1


def test_a_batch_reports_each_item_and_registers_the_valid_ones(uow):
    items = [BODY, {**BODY, "cluster_id": "beta"}, {**BODY, "country": "Poland"}, {**BODY, "external_ref": "x"}]
    outcomes = run(handlers.register_batch(uow, items))
    assert [o.registered is not None for o in outcomes] == [True, False, False, True]
    assert isinstance(outcomes[1].error, Forbidden)
    assert type(outcomes[2].error).__name__ == "ValidationError"
    assert len(uow.repo.participants) == 2 and len(uow.published) == 2


def test_reads_and_writes_see_the_same_participants(uow):
    pid = register(uow).row["id"]
    assert run(handlers.visible_participant(uow.as_(COORDINATOR), pid))["id"] == pid
    patch = ParticipantPatch.model_validate({"city": "Gdańsk"})
    for hidden in (handlers.visible_participant(uow.as_(BETA), pid),
                   handlers.update_participant(uow.as_(BETA), pid, patch),
                   handlers.apply_exchange(uow.as_(BETA), ExchangeIn.model_validate(
                       {**EXCHANGE, "host_cluster_id": "gamma", "participant_id": str(pid)}))):
        with pytest.raises(NotFound):
            run(hidden)
    assert len(uow.published) == 1


def test_listing_confines_partners_to_their_cluster_and_pages(uow):
    for _ in range(3):
        register(uow)
    register(uow, caller=BETA)
    assert run(handlers.list_participants(uow.as_(BETA), kind=None, country=None, cluster_id="alpha", limit=10,
                                          cursor=None)).rows == []
    assert len(run(handlers.list_participants(uow, kind=None, country=None, cluster_id=None, limit=10,
                                              cursor=None)).rows) == 3
    first = run(handlers.list_participants(uow.as_(COORDINATOR), kind=None, country=None, cluster_id=None,
                                           limit=3, cursor=None))
    rest = run(handlers.list_participants(uow.as_(COORDINATOR), kind=None, country=None, cluster_id=None,
                                          limit=3, cursor=first.next_cursor))
    assert len(first.rows) == 3 and len(rest.rows) == 1 and rest.next_cursor is None
    with pytest.raises(Invalid):
        run(handlers.list_participants(uow, kind=None, country=None, cluster_id=None, limit=3, cursor="nonsense"))


def test_an_update_publishes_only_what_changed(uow):
    pid = register(uow).row["id"]
    same = ParticipantPatch.model_validate({"city": "Kraków", "keywords": ["mobility"]})
    run(handlers.update_participant(uow, pid, same))
    assert types(uow) == [ParticipantRegisteredV2]
    row = run(handlers.update_participant(uow, pid, ParticipantPatch.model_validate(
        {"city": "Gdańsk", "contact": {"name": "Ana", "email": "new@firm.example"}})))
    assert row["city"] == "Gdańsk" and types(uow)[-1] is ParticipantUpdatedV2
    assert uow.published[-1].changed == ("city", "contact")


def test_erasure_cancels_the_open_exchange_first_and_is_idempotent(uow):
    pid = register(uow).row["id"]
    apply(uow, pid)
    run(handlers.erase_participant(uow, pid))
    assert types(uow)[-2:] == [ExchangeCancelledV2, ParticipantErased]
    assert uow.repo.participants[pid]["contact_email"] is None and pid not in uow.repo.keys
    run(handlers.erase_participant(uow, pid))
    assert len(uow.published) == 4
    with pytest.raises(NotFound):
        run(handlers.visible_participant(uow, pid))
    with pytest.raises(NotFound):
        run(handlers.erase_participant(uow.as_(BETA), register(uow).row["id"]))


# --- activities -----------------------------------------------------------------------------------


ACTIVITY = {"kind": "matchmaking_event", "title": "B2B days", "host_cluster_id": "alpha", "country": "PL",
            "starts_on": "2026-06-02", "ends_on": "2026-06-03", "capacity": 1}


def test_activities_are_created_by_their_host_and_fill_up(uow):
    with pytest.raises(Forbidden):
        run(handlers.create_activity(uow.as_(BETA), ActivityIn.model_validate(ACTIVITY)))
    with pytest.raises(RuleBroken):
        run(handlers.create_activity(uow.as_(COORDINATOR), ActivityIn.model_validate(
            {**ACTIVITY, "host_cluster_id": "nowhere"})))
    aid = run(handlers.create_activity(uow, ActivityIn.model_validate(ACTIVITY)))["id"]
    one, two = register(uow).row["id"], register(uow).row["id"]
    joined = run(handlers.join_activity(uow, aid, JoinIn(participant_id=one)))
    assert joined.participant_id == one
    with pytest.raises(Conflict) as again:
        run(handlers.join_activity(uow, aid, JoinIn(participant_id=one)))
    assert again.value.kind in ("activity-full", "already-joined")
    with pytest.raises(Conflict) as full:
        run(handlers.join_activity(uow, aid, JoinIn(participant_id=two)))
    assert full.value.kind == "activity-full"
    assert run(handlers.get_activity(uow.as_(BETA), aid))[1] == 1
    with pytest.raises(NotFound):
        run(handlers.get_activity(uow, uuid.uuid4()))
    assert types(uow).count(ActivityCreated) == 1 and types(uow).count(ActivityParticipantJoined) == 1


def test_joining_twice_is_a_conflict_of_its_own():
    uow = FakeUnitOfWork(FakeRepository(), ALPHA)
    aid = run(handlers.create_activity(uow, ActivityIn.model_validate({**ACTIVITY, "capacity": None})))["id"]
    pid = register(uow).row["id"]
    run(handlers.join_activity(uow, aid, JoinIn(participant_id=pid)))
    with pytest.raises(Conflict) as again:
        run(handlers.join_activity(uow, aid, JoinIn(participant_id=pid)))
    assert again.value.kind == "already-joined"


# --- exchanges ------------------------------------------------------------------------------------


def test_applying_checks_the_programme_rules(uow):
    pid = register(uow).row["id"]
    for changes, field in (({"host_cluster_id": "alpha"}, "host_cluster_id"),
                           ({"host_cluster_id": "nowhere"}, "host_cluster_id"),
                           ({"activity_id": str(uuid.uuid4())}, "activity_id"),
                           ({"end_date": "2026-05-01"}, "end_date")):
        with pytest.raises(RuleBroken) as broken:
            apply(uow, pid, **changes)
        assert broken.value.field == field
    row = apply(uow, pid)
    assert row["status"] == "applied" and row["working_days"] == 10
    with pytest.raises(Conflict) as second:
        apply(uow, pid, host_cluster_id="gamma")
    assert second.value.kind == "one-exchange-only"
    assert types(uow) == [ParticipantRegisteredV2, ExchangeApplied]


def test_the_lifecycle_through_the_handlers(uow):
    pid = register(uow).row["id"]
    xid = apply(uow, pid)["id"]
    with pytest.raises(Conflict) as early:
        run(handlers.complete_exchange(uow, xid, CompletionIn.model_validate(COMPLETION)))
    assert early.value.kind == "invalid-state"
    approved = run(handlers.approve_exchange(uow.as_(COORDINATOR), xid, CAPS, 1000))
    assert approved.row["status"] == "approved" and approved.lump.cap_eur == 1500
    assert approved.row["lump_sum_eur"] == approved.lump.eur
    with pytest.raises(Conflict):
        run(handlers.approve_exchange(uow.as_(COORDINATOR), xid, CAPS, 1000))
    with pytest.raises(RuleBroken) as before_start:
        run(handlers.complete_exchange(uow, xid, CompletionIn.model_validate(
            {**COMPLETION, "completed_on": "2026-05-31"})))
    assert before_start.value.field == "completed_on"
    done = run(handlers.complete_exchange(uow, xid, CompletionIn.model_validate(COMPLETION)))
    assert done["status"] == "completed" and done["completed_on"] == date(2026, 6, 12)
    with pytest.raises(Conflict):
        run(handlers.cancel_exchange(uow, xid, CancelIn()))
    assert types(uow)[1:] == [ExchangeApplied, ExchangeApproved, ExchangeCompleted]


def test_hosts_see_an_exchange_but_only_the_sending_side_changes_it(uow):
    pid = register(uow).row["id"]
    xid = apply(uow, pid)["id"]
    assert run(handlers.visible_exchange(uow.as_(BETA), xid))["id"] == xid
    assert [r["id"] for r in run(handlers.list_exchanges(uow.as_(BETA), None))] == [xid]
    with pytest.raises(Forbidden):
        run(handlers.cancel_exchange(uow.as_(BETA), xid, CancelIn()))
    for hidden in (handlers.visible_exchange(uow.as_(GAMMA), xid), handlers.cancel_exchange(uow.as_(GAMMA), xid, CancelIn())):
        with pytest.raises(NotFound):
            run(hidden)
    assert run(handlers.list_exchanges(uow.as_(GAMMA), None)) == []
    cancelled = run(handlers.cancel_exchange(uow, xid, CancelIn(reason="visa")))
    assert cancelled["status"] == "cancelled" and uow.published[-1].previous_status == "applied"
    assert "visa" not in uow.published[-1].model_dump_json()  # the reason travels sealed
    assert apply(uow, pid, host_cluster_id="gamma")["status"] == "applied"  # a cancelled one frees the participant
