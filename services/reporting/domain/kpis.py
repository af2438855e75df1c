"""The monitoring scoreboard, computed from facts at query time (pure; no I/O).

Definitions (also in services/reporting/README.md):
- An exchange *counts* once it is approved and not cancelled; ``smes`` / ``cluster_staff`` split counted
  exchanges by the visiting participant's kind. ``by_status`` shows every known exchange.
- ``cluster`` filters by the home (sending) cluster of participants and exchanges, the host cluster of
  activities, and for meetings by either side's home cluster.
- ``from`` / ``to`` (inclusive dates) filter participants by registration date, exchanges by start date,
  activities by start date, meetings by request date, and satisfaction, outcomes and paid lump sums by
  the exchange's completion date.
- Lump sums: ``committed`` = counted exchanges, ``paid`` = counted exchanges with a closing report.
- ``countries_reached``: distinct countries of the counted participants and of the activities.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.reporting.domain.facts import FactBook, Facts

METRICS = (
    "exchanges", "smes", "cluster_staff", "participants", "activities", "meetings_requested", "meetings_held",
    "lump_sums_committed", "lump_sums_paid",
)
# Programme targets for counted exchanges, by month of the programme.
TARGETS = ((12, 38), (18, 60), (24, 98))


@dataclass(frozen=True)
class Scope:
    cluster: str | None = None
    start: date | None = None
    end: date | None = None

    def in_period(self, day: str | None) -> bool:
        if self.start is None and self.end is None:
            return True
        if day is None:
            return False
        d = date.fromisoformat(day[:10])
        return (self.start is None or d >= self.start) and (self.end is None or d <= self.end)


def _sorted(counter: Counter) -> dict[str, int]:
    return {k: v for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))}


def exchange_status(x: Facts) -> str:
    if x.get("cancelled_at"):
        return "cancelled"
    if x.get("completion_v"):
        return "completed"
    if x.get("approved_at"):
        return "approved"
    return "applied"


def counts(x: Facts) -> bool:
    return bool(x.get("approved_at")) and not x.get("cancelled_at")


def exchange_day(x: Facts) -> str | None:
    return x.get("start_date") or x.get("approved_at") or x.get("applied_at")


def participant_kind(x: Facts, participants: dict[str, Facts]) -> str | None:
    return x.get("participant_kind") or participants.get(x.get("participant_id") or "", {}).get("kind")


def meeting_scheduled(m: Facts) -> bool:
    return (m.get("scheduled_version") or 0) > (m.get("unscheduled_version") or 0)


def _meeting_clusters(m: Facts, participants: dict[str, Facts]) -> set[str]:
    return {participants.get(m.get(side) or "", {}).get("cluster_id") for side in ("requester_id", "target_id")} - {None}


def scoreboard(book: FactBook, scope: Scope = Scope()) -> dict[str, Any]:
    participants = book.aggregates["participant"]
    c = scope.cluster

    people = [p for p in participants.values()
              if p.get("registered_at") and (c is None or p.get("cluster_id") == c) and scope.in_period(p["registered_at"])]

    all_exchanges = [x for x in book.aggregates["exchange"].values()
                     if (c is None or x.get("sending_cluster_id") == c) and scope.in_period(exchange_day(x))]
    counted = [x for x in all_exchanges if counts(x)]
    kinds = Counter(participant_kind(x, participants) or "unknown" for x in counted)
    closed = [x for x in book.aggregates["exchange"].values()
              if counts(x) and x.get("completion_v") and (c is None or x.get("sending_cluster_id") == c)
              and scope.in_period(x.get("completed_on"))]

    activities = [a for a in book.aggregates["activity"].values()
                  if a.get("kind") and (c is None or a.get("host_cluster_id") == c) and scope.in_period(a.get("starts_on"))]

    meetings = [m for m in book.aggregates["meeting"].values()
                if (c is None or c in _meeting_clusters(m, participants))
                and scope.in_period(m.get("requested_at") or m.get("first_seen_at"))]
    accepted = sum(1 for m in meetings if m.get("accepted"))

    ratings = [x["satisfaction"] for x in closed]
    outcomes = Counter(o for x in closed for o in x.get("outcomes") or ())

    countries = {p["country"] for p in people if p.get("country")} | {a["country"] for a in activities if a.get("country")}

    return {
        "exchanges": {
            "total": len(counted),
            "smes": kinds.get("sme", 0),
            "cluster_staff": kinds.get("cluster_staff", 0),
            "by_kind": _sorted(Counter(x.get("kind") or "unknown" for x in counted)),
            "by_status": _sorted(Counter(exchange_status(x) for x in all_exchanges)),
            "by_sending_cluster": _sorted(Counter(x.get("sending_cluster_id") or "unknown" for x in counted)),
            "by_host_cluster": _sorted(Counter(x.get("host_cluster_id") or "unknown" for x in counted)),
        },
        "participants": {
            "total": len(people),
            "by_kind": _sorted(Counter(p.get("kind") or "unknown" for p in people)),
            "by_country": _sorted(Counter(p.get("country") or "unknown" for p in people)),
            "by_cluster": _sorted(Counter(p.get("cluster_id") or "unknown" for p in people)),
        },
        "activities": {"total": len(activities), "by_kind": _sorted(Counter(a["kind"] for a in activities))},
        "meetings": {
            "requested": len(meetings),
            "accepted": accepted,
            "declined": sum(1 for m in meetings if m.get("declined")),
            "scheduled": sum(1 for m in meetings if meeting_scheduled(m)),
            "held": sum(1 for m in meetings if m.get("held")),
            "acceptance_rate": round(accepted / len(meetings), 3) if meetings else None,
        },
        "satisfaction": {
            "average": round(sum(ratings) / len(ratings), 2) if ratings else None,
            "responses": len(ratings),
            "distribution": {str(score): ratings.count(score) for score in range(1, 6)},
        },
        "outcomes": _sorted(outcomes),
        "countries_reached": len(countries),
        "lump_sums_eur": {
            "committed": sum(x.get("lump_sum_eur") or 0 for x in counted),
            "paid": sum(x.get("lump_sum_eur") or 0 for x in closed),
        },
        "as_of": {"last_event_time": book.last_event_time, "events_applied": book.events_applied},
    }


# --- time series ---------------------------------------------------------------------------------


def _dated_values(book: FactBook, metric: str, cluster: str | None) -> list[tuple[str, int]]:
    participants = book.aggregates["participant"]
    mine = lambda owner: cluster is None or owner == cluster  # noqa: E731
    exchanges = [x for x in book.aggregates["exchange"].values() if counts(x) and mine(x.get("sending_cluster_id"))]
    meetings = [m for m in book.aggregates["meeting"].values()
                if cluster is None or cluster in _meeting_clusters(m, participants)]
    match metric:
        case "exchanges":
            return [(exchange_day(x), 1) for x in exchanges]
        case "smes" | "cluster_staff":
            kind = "sme" if metric == "smes" else "cluster_staff"
            return [(exchange_day(x), 1) for x in exchanges if participant_kind(x, participants) == kind]
        case "participants":
            return [(p["registered_at"], 1) for p in participants.values()
                    if p.get("registered_at") and mine(p.get("cluster_id"))]
        case "activities":
            return [(a["starts_on"], 1) for a in book.aggregates["activity"].values()
                    if a.get("kind") and mine(a.get("host_cluster_id"))]
        case "meetings_requested":
            return [(m.get("requested_at") or m["first_seen_at"], 1) for m in meetings]
        case "meetings_held":
            return [(m["held_at"], 1) for m in meetings if m.get("held")]
        case "lump_sums_committed":
            return [(exchange_day(x), x.get("lump_sum_eur") or 0) for x in exchanges]
        case "lump_sums_paid":
            return [(x["completed_on"], x.get("lump_sum_eur") or 0) for x in exchanges if x.get("completion_v")]
    raise ValueError(f"unknown metric {metric!r}")


def period_of(day: str, interval: str) -> str:
    year, month = int(day[:4]), int(day[5:7])
    return f"{year}-{month:02d}" if interval == "month" else f"{year}-Q{(month - 1) // 3 + 1}"


def _periods(first: str, last: str, interval: str) -> list[str]:
    step = 1 if interval == "month" else 3
    y, m = int(first[:4]), int(first[5:7])
    m = m if interval == "month" else (m - 1) // 3 * 3 + 1
    out, end = [], (int(last[:4]), int(last[5:7]))
    while (y, m) <= end:
        out.append(period_of(f"{y}-{m:02d}", interval))
        m += step
        if m > 12:
            y, m = y + 1, m - 12
    return out


def timeseries(book: FactBook, metric: str, interval: str, cluster: str | None = None) -> dict[str, Any]:
    """Values per month or quarter, contiguous from the first to the last period with data."""
    if interval not in ("month", "quarter"):
        raise ValueError(f"unknown interval {interval!r}")
    dated = [(day, v) for day, v in _dated_values(book, metric, cluster) if day]
    per, items = Counter(), Counter()
    for day, value in dated:
        per[period_of(day, interval)] += value
        items[period_of(day, interval)] += 1
    points, running = [], 0
    if dated:
        days = sorted(day[:10] for day, _ in dated)
        for period in _periods(days[0], days[-1], interval):
            running += per.get(period, 0)
            # items: how many exchanges, participants, ... make up the value (see disclosure.timeseries).
            points.append({"period": period, "value": per.get(period, 0), "cumulative": running,
                           "items": items.get(period, 0)})
    return {"metric": metric, "interval": interval, "cluster": cluster, "points": points}


def programme_start(book: FactBook) -> str | None:
    """The first month with an activity or exchange: where the programme's months are counted from."""
    days = [a["starts_on"] for a in book.aggregates["activity"].values() if a.get("starts_on")]
    days += [exchange_day(x) for x in book.aggregates["exchange"].values() if exchange_day(x)]
    return min(days)[:7] if days else None


# --- CSV -----------------------------------------------------------------------------------------


def flatten(board: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) for every leaf of the scoreboard, in document order."""
    rows: list[tuple[str, Any]] = []
    for key, value in board.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(flatten(value, path + "."))
        else:
            rows.append((path, value))
    return rows
