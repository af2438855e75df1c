"""The exchange state machine (services/registration/domain/exchange.py), over every command from every state."""

from __future__ import annotations

import itertools

import pytest

from services.registration.domain.exchange import FINAL, OPEN, STATES, TRANSITIONS, State, step
from shared.errors import Conflict
from shared.events.catalogue import ExchangeApplied, ExchangeApproved, ExchangeCancelledV2, ExchangeCompleted

# The lifecycle as the API documents it: (command, from) → (to, event). Everything not listed is refused.
ALLOWED = {
    ("apply", None): (State.APPLIED, ExchangeApplied),
    ("approve", State.APPLIED): (State.APPROVED, ExchangeApproved),
    ("cancel", State.APPLIED): (State.CANCELLED, ExchangeCancelledV2),
    ("cancel", State.APPROVED): (State.CANCELLED, ExchangeCancelledV2),
    ("complete", State.APPROVED): (State.COMPLETED, ExchangeCompleted),
}

PAIRS = list(itertools.product(sorted(TRANSITIONS), [None, *State]))


@pytest.mark.parametrize(("command", "state"), [p for p in PAIRS if p in ALLOWED])
def test_allowed_transitions_lead_to_their_state_and_event(command, state):
    t = step(command, "x-1", state)
    assert (t.target, t.event) == ALLOWED[(command, state)]


@pytest.mark.parametrize(("command", "state"), [p for p in PAIRS if p not in ALLOWED])
def test_every_other_transition_is_refused_with_invalid_state(command, state):
    with pytest.raises(Conflict) as refused:
        step(command, "x-1", state)
    assert refused.value.kind == "invalid-state" and refused.value.status == 409
    assert str(refused.value).startswith(f"Exchange x-1 is {state}")


def test_the_refusals_read_as_the_api_has_always_answered():
    def refusal(command, state):
        with pytest.raises(Conflict) as e:
            step(command, "x-1", state)
        return str(e.value)

    assert refusal("approve", "approved") == "Exchange x-1 is approved; only an applied exchange can be approved"
    assert refusal("cancel", "completed") == "Exchange x-1 is completed and cannot be cancelled"
    assert refusal("complete", "applied") == "Exchange x-1 is applied; only an approved exchange can be completed"


def test_open_and_final_states_follow_from_the_transitions():
    assert OPEN == {State.APPLIED, State.APPROVED}
    assert FINAL == {State.CANCELLED, State.COMPLETED}
    assert set(STATES) == {"applied", "approved", "cancelled", "completed"}


def test_every_state_is_reachable_and_every_event_is_one_transitions():
    reachable = {t.target for t in TRANSITIONS.values()}
    assert reachable == set(State)
    assert len({t.event for t in TRANSITIONS.values()}) == len(TRANSITIONS)
    assert all(t.command == name for name, t in TRANSITIONS.items())
