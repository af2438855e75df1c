"""What reporting knows about each aggregate, folded from events in any order.

Events reach reporting from several topics, so an exchange approval may arrive before the exchange was
applied for, and a replay may deliver an event twice. ``merge`` is therefore written to be convergent:
for a given set of events, every arrival order and any number of repetitions give the same facts.
Immutable facts are set once (``_first``: earliest timestamp wins), changeable ones carry a version
(event time, then event id) and the newest version wins, flags only ever turn on. The scoreboard is
computed from these facts at query time (``kpis.py``), never maintained as counters.

Facts are plain JSON-able dicts (dates as ISO strings) because the adapter stores them as jsonb.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.events.catalogue import EventData

Facts = dict[str, Any]

# aggregate name → the payload field holding its id
AGGREGATES = {"participant": "participant_id", "activity": "activity_id", "exchange": "exchange_id", "meeting": "meeting_id"}

PROJECTED_TYPES = (
    "participant.registered", "participant.updated", "participant.erased",
    "activity.created", "activity.updated",
    "exchange.applied", "exchange.approved", "exchange.cancelled", "exchange.completed",
    "meeting.requested", "meeting.accepted", "meeting.declined", "meeting.expired",
    "meeting.scheduled", "meeting.unscheduled", "meeting.held", "meeting.rated",
)


def utc(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def aggregate_of(event_type: str, payload: EventData) -> tuple[str, str]:
    aggregate = event_type.split(".", 1)[0]
    return aggregate, str(getattr(payload, AGGREGATES[aggregate]))


def _first(facts: Facts, field: str, value: Any) -> None:
    """An immutable fact: the earliest value wins, so repeats and reordering agree."""
    if value is None:
        return
    current = facts.get(field)
    if current is None or value < current:
        facts[field] = value


def _versioned(facts: Facts, group: str, version: str, values: dict[str, Any]) -> None:
    """A changeable group of fields: the values of the newest version win."""
    key = f"{group}_v"
    if facts.get(key) is None or version >= facts[key]:
        facts[key] = version
        facts.update(values)


def _fill(facts: Facts, **values: Any) -> None:
    """Facts other events also carry, authoritatively in one of them: fill only what is still unknown."""
    for field, value in values.items():
        if value is not None and facts.get(field) is None:
            facts[field] = value


def _flag(facts: Facts, field: str) -> None:
    facts[field] = True


def merge(facts: Facts, event_type: str, payload: Any, event_time: datetime, event_id: str) -> Facts:
    """The facts of one aggregate after also knowing this event (a new dict; ``facts`` is not changed)."""
    f = dict(facts)
    at = utc(event_time)
    version = f"{at}|{event_id}"
    p = payload
    match event_type:
        case "participant.registered" | "participant.updated":
            _versioned(f, "profile", version, {"cluster_id": p.profile.cluster_id, "kind": p.profile.kind,
                                               "country": p.profile.country.upper()})
            if event_type == "participant.registered":
                _first(f, "registered_at", utc(p.registered_at))
        case "participant.erased":
            # Erasure removes contact data, which reporting never holds; the anonymous counts stay.
            _first(f, "erased_at", utc(p.erased_at))
            _fill(f, cluster_id=p.cluster_id)
        case "activity.created":
            for field in ("kind", "host_cluster_id", "city", "online"):
                f[field] = getattr(p, field)
            f["country"] = p.country.upper()
            _first(f, "created_at", at)
            _versioned(f, "dates", version, {"starts_on": p.starts_on.isoformat(), "ends_on": p.ends_on.isoformat()})
        case "activity.updated":
            _versioned(f, "dates", version, {"starts_on": p.starts_on.isoformat(), "ends_on": p.ends_on.isoformat()})
        case "exchange.applied":
            f.update(participant_id=p.participant_id, participant_kind=p.participant_kind,
                     sending_cluster_id=p.sending_cluster_id, host_cluster_id=p.host_cluster_id,
                     activity_id=p.activity_id, kind=p.kind, start_date=p.start_date.isoformat(),
                     end_date=p.end_date.isoformat(), planned_working_days=p.working_days)
            _first(f, "applied_at", at)
        case "exchange.approved":
            _fill(f, participant_id=p.participant_id, sending_cluster_id=p.sending_cluster_id,
                  host_cluster_id=p.host_cluster_id)
            _first(f, "approved_at", utc(p.approved_at))
            f["lump_sum_eur"] = p.lump_sum_eur
        case "exchange.cancelled":
            _fill(f, participant_id=p.participant_id, sending_cluster_id=p.sending_cluster_id,
                  host_cluster_id=p.host_cluster_id)
            _first(f, "cancelled_at", at)
        case "exchange.completed":
            _fill(f, participant_id=p.participant_id, sending_cluster_id=p.sending_cluster_id,
                  host_cluster_id=p.host_cluster_id, lump_sum_eur=p.lump_sum_eur)
            _versioned(f, "completion", version, {
                "completed_on": p.completed_on.isoformat(), "working_days": p.working_days,
                "meetings_held": p.meetings_held, "satisfaction": p.satisfaction, "outcomes": list(p.outcomes),
            })
        case _ if event_type.startswith("meeting."):
            f.update(activity_id=p.activity_id, requester_id=p.requester_id, target_id=p.target_id)
            _first(f, "first_seen_at", at)
            match event_type:
                case "meeting.requested":
                    _first(f, "requested_at", at)
                case "meeting.accepted":
                    _flag(f, "accepted")
                case "meeting.declined":
                    _flag(f, "declined")
                case "meeting.expired":
                    _flag(f, "expired")
                case "meeting.scheduled":
                    f["scheduled_version"] = max(f.get("scheduled_version") or 0, p.schedule_version)
                case "meeting.unscheduled":
                    f["unscheduled_version"] = max(f.get("unscheduled_version") or 0, p.schedule_version)
                case "meeting.held":
                    _flag(f, "held")
                    _first(f, "held_at", at)
                case "meeting.rated":
                    ratings = dict(f.get("ratings") or {})
                    previous = ratings.get(p.rated_by)
                    if previous is None or version >= previous[0]:
                        ratings[p.rated_by] = [version, p.rating]
                    f["ratings"] = ratings
        case _:
            raise KeyError(f"reporting does not project {event_type!r}")
    return f


class FactBook:
    """Facts of every aggregate in memory: what the scoreboard is computed from, and what tests fold
    event histories into without a database."""

    def __init__(self) -> None:
        self.aggregates: dict[str, dict[str, Facts]] = {name: {} for name in AGGREGATES}
        self.applied: dict[str, tuple[str, str]] = {}  # event id → (event time, event type)
        self._stored: tuple[int, str | None] | None = None

    @classmethod
    def stored(cls, rows, events_applied: int, last_event_time: str | None) -> FactBook:
        """A book read back from the projection tables: (aggregate, id, facts) rows and the event summary."""
        book = cls()
        for aggregate, key, facts in rows:
            book.aggregates[aggregate][key] = facts
        book._stored = (events_applied, last_event_time)
        return book

    def apply(self, event_type: str, payload: Any, event_time: datetime, event_id: str) -> bool:
        if event_id in self.applied:
            return False
        aggregate, key = aggregate_of(event_type, payload)
        table = self.aggregates[aggregate]
        table[key] = merge(table.get(key, {}), event_type, payload, event_time, event_id)
        self.applied[event_id] = (utc(event_time), event_type)
        return True

    @property
    def events_applied(self) -> int:
        return self._stored[0] if self._stored else len(self.applied)

    @property
    def last_event_time(self) -> str | None:
        return self._stored[1] if self._stored else max((t for t, _ in self.applied.values()), default=None)
