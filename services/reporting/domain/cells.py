"""The scoreboard as sums of per-aggregate contributions, so the projection can keep it up to date (pure).

``kpis.scoreboard`` is the reference: it folds every fact at query time. Here each aggregate's facts are
turned into *cells* — (cluster, day, metric, key, value) — such that the scoreboard of any scope is a
function of the sums of the cells in that scope (``board``). The projection stores each aggregate's cells
next to its facts and, when the facts change, adds the difference (new cells − old cells) to indexed sums,
in the consumer's transaction. Because the cells are a function of the facts alone, and the facts are
order-independent, so are the sums: a late or repeated event changes the facts, and the delta repairs the
sums. A participant's kind and home cluster also shape the cells of its exchanges and meetings, so those
are recomputed when it changes.

- ``cluster``: ``PROGRAMME`` ("") for the programme total, otherwise the cluster a ``cluster=`` filter
  would select the item for (a meeting counts for both sides' clusters, but once in the programme).
- ``day``: the date the ``from``/``to`` filter looks at (ISO), or None when the item has none (then it
  only counts when no period is asked for).
- Averages are sums and counts (satisfaction: a count per score), distinct countries a count per country.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from services.reporting.domain.facts import Facts
from services.reporting.domain.kpis import (
    _meeting_clusters, _sorted, counts, exchange_day, exchange_status, meeting_scheduled, participant_kind,
)

PROGRAMME = ""
Cell = tuple[str, str | None, str, str, int]  # cluster, day, metric, key, value
CellKey = tuple[str, str | None, str, str]


def _day(value: str | None) -> str | None:
    return value[:10] if value else None


def contributions(aggregate: str, f: Facts, participants: Mapping[str, Facts]) -> list[Cell]:
    """The cells one aggregate adds to the scoreboard; ``participants`` holds (at least) the participants
    its exchange or meeting names."""
    items: list[tuple[set[str], str | None, str, str, int]] = []
    match aggregate:
        case "participant":
            if f.get("registered_at"):
                where, day = {f["cluster_id"]} if f.get("cluster_id") else set(), _day(f["registered_at"])
                items += [(where, day, "p", "", 1), (where, day, "p.kind", f.get("kind") or "unknown", 1),
                          (where, day, "p.country", f.get("country") or "unknown", 1),
                          (where, day, "p.cluster", f.get("cluster_id") or "unknown", 1)]
                if f.get("country"):
                    items.append((where, day, "country", f["country"], 1))
        case "exchange":
            sending = f.get("sending_cluster_id")
            where, day = {sending} if sending else set(), _day(exchange_day(f))
            items.append((where, day, "x.status", exchange_status(f), 1))
            if counts(f):
                items += [(where, day, "x", "", 1),
                          (where, day, "x.pkind", participant_kind(f, participants) or "unknown", 1),
                          (where, day, "x.kind", f.get("kind") or "unknown", 1),
                          (where, day, "x.sending", sending or "unknown", 1),
                          (where, day, "x.host", f.get("host_cluster_id") or "unknown", 1),
                          (where, day, "eur.committed", "", f.get("lump_sum_eur") or 0)]
                if f.get("completion_v"):
                    closed_on = _day(f.get("completed_on"))
                    items += [(where, closed_on, "sat", str(f["satisfaction"]), 1),
                              (where, closed_on, "eur.paid", "", f.get("lump_sum_eur") or 0)]
                    items += [(where, closed_on, "outcome", o, 1) for o in f.get("outcomes") or ()]
        case "activity":
            if f.get("kind"):
                where = {f["host_cluster_id"]} if f.get("host_cluster_id") else set()
                day = _day(f.get("starts_on"))
                items += [(where, day, "a", "", 1), (where, day, "a.kind", f["kind"], 1)]
                if f.get("country"):
                    items.append((where, day, "country", f["country"], 1))
        case "meeting":
            where, day = _meeting_clusters(f, participants), _day(f.get("requested_at") or f.get("first_seen_at"))
            items.append((where, day, "m.requested", "", 1))
            for flag in ("accepted", "declined", "held"):
                if f.get(flag):
                    items.append((where, day, f"m.{flag}", "", 1))
            if meeting_scheduled(f):
                items.append((where, day, "m.scheduled", "", 1))
        case _:
            raise KeyError(aggregate)
    return [(cluster, day, metric, key, value)
            for where, day, metric, key, value in items if value
            for cluster in (PROGRAMME, *sorted(where))]


def participants_named(aggregate: str, f: Facts) -> list[str]:
    """The participants whose facts ``contributions`` reads for this aggregate."""
    fields = {"exchange": ("participant_id",), "meeting": ("requester_id", "target_id")}.get(aggregate, ())
    return [f[field] for field in fields if f.get(field)]


def delta(old: Iterable[Cell], new: Iterable[Cell]) -> Counter[CellKey]:
    out: Counter[CellKey] = Counter()
    for cluster, day, metric, key, value in new:
        out[(cluster, day, metric, key)] += value
    for cluster, day, metric, key, value in old:
        out[(cluster, day, metric, key)] -= value
    return out


def board(sums: Mapping[tuple[str, str], int], events_applied: int, last_event_time: str | None) -> dict[str, Any]:
    """The scoreboard (exactly as ``kpis.scoreboard`` shapes it) from the sums of one scope's cells,
    keyed (metric, key)."""
    groups: dict[str, Counter] = {}
    for (metric, key), n in sums.items():
        if n:
            groups.setdefault(metric, Counter())[key] = n
    get = lambda metric: groups.get(metric, Counter())  # noqa: E731
    one = lambda metric: get(metric).get("", 0)  # noqa: E731
    kinds, sat = get("x.pkind"), get("sat")
    requested, accepted, responses = one("m.requested"), one("m.accepted"), sum(sat.values())
    return {
        "exchanges": {
            "total": one("x"),
            "smes": kinds.get("sme", 0),
            "cluster_staff": kinds.get("cluster_staff", 0),
            "by_kind": _sorted(get("x.kind")),
            "by_status": _sorted(get("x.status")),
            "by_sending_cluster": _sorted(get("x.sending")),
            "by_host_cluster": _sorted(get("x.host")),
        },
        "participants": {
            "total": one("p"),
            "by_kind": _sorted(get("p.kind")),
            "by_country": _sorted(get("p.country")),
            "by_cluster": _sorted(get("p.cluster")),
        },
        "activities": {"total": one("a"), "by_kind": _sorted(get("a.kind"))},
        "meetings": {
            "requested": requested,
            "accepted": accepted,
            "declined": one("m.declined"),
            "scheduled": one("m.scheduled"),
            "held": one("m.held"),
            "acceptance_rate": round(accepted / requested, 3) if requested else None,
        },
        "satisfaction": {
            "average": round(sum(int(score) * n for score, n in sat.items()) / responses, 2) if responses else None,
            "responses": responses,
            "distribution": {str(score): sat.get(str(score), 0) for score in range(1, 6)},
        },
        "outcomes": _sorted(get("outcome")),
        "countries_reached": len(get("country")),
        "lump_sums_eur": {"committed": one("eur.committed"), "paid": one("eur.paid")},
        "as_of": {"last_event_time": last_event_time, "events_applied": events_applied},
    }
