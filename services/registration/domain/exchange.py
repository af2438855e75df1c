"""The exchange lifecycle as an explicit state machine.

An exchange is applied for, then approved by a coordinator, and ends completed (the sending cluster reports
on it) or cancelled (before completion, by the sending cluster, a coordinator or an erasure). Each command is
one ``Transition``: the states it may start from, the state it leads to and the event it emits. A command
from any other state is refused with a 409 ``invalid-state`` naming the current state.

To add a step (host acceptance, review, payment): add its ``State``, add a ``Transition`` to ``TRANSITIONS``
(and widen the ``sources`` of the commands that may now follow it); the handler then calls ``step(...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.errors import Conflict
from shared.events.catalogue import ExchangeApplied, ExchangeApproved, ExchangeCancelledV2, ExchangeCompleted


class State(StrEnum):
    APPLIED = "applied"
    APPROVED = "approved"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


STATES: tuple[str, ...] = tuple(s.value for s in State)


@dataclass(frozen=True)
class Transition:
    command: str
    sources: frozenset[State]  # empty: the command creates the exchange
    target: State
    event: type
    refusal: str  # why the command is refused, after "Exchange <id> is <state>"

    def allowed_from(self, state: str | None) -> bool:
        return state is None if not self.sources else state in self.sources


TRANSITIONS: dict[str, Transition] = {t.command: t for t in (
    Transition("apply", frozenset(), State.APPLIED, ExchangeApplied, "; an exchange is applied for only once"),
    Transition("approve", frozenset({State.APPLIED}), State.APPROVED, ExchangeApproved,
               "; only an applied exchange can be approved"),
    Transition("cancel", frozenset({State.APPLIED, State.APPROVED}), State.CANCELLED, ExchangeCancelledV2,
               " and cannot be cancelled"),
    Transition("complete", frozenset({State.APPROVED}), State.COMPLETED, ExchangeCompleted,
               "; only an approved exchange can be completed"),
)}

# An exchange that can still be cancelled is open: erasing its participant cancels it. (Any exchange not
# cancelled counts for the one-exchange-per-participant rule, kept by a unique index.)
OPEN: frozenset[State] = TRANSITIONS["cancel"].sources
FINAL: frozenset[State] = frozenset(s for s in State if not any(t.allowed_from(s) for t in TRANSITIONS.values()))


def step(command: str, exchange_id: object, state: str | None) -> Transition:
    """The transition ``command`` makes from ``state``; ``Conflict`` (409 invalid-state) if it may not."""
    transition = TRANSITIONS[command]
    if not transition.allowed_from(state):
        raise Conflict(f"Exchange {exchange_id} is {state}{transition.refusal}", kind="invalid-state")
    return transition
