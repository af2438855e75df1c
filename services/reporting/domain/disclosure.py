"""What each audience may read of the scoreboard (pure; no I/O).

- ``full`` (coordinators, ops): everything, any cluster, any period.
- ``partner``: the programme totals and its own cluster's breakdown; other clusters' entries of the
  ``by_*cluster`` maps are left out, and every small cell is suppressed.
- ``public`` (the optional public scoreboard, no key): programme level only, no cluster breakdown at all,
  small cells suppressed.

A cell is small when it counts 1 to 4 exchanges, participants, meetings, activities or answers, and a figure
*derived* from fewer than 5 of them is suppressed too, whatever its own size: an average satisfaction over 2
closing reports, a lump-sum total over 3 exchanges, an acceptance rate over 4 requests. Suppressed values
are ``null`` (shown as "–"). Zero stays zero: it says nobody, which identifies nobody.
"""

from __future__ import annotations

import copy
from typing import Any

THRESHOLD = 5
AUDIENCES = ("full", "partner", "public")
_CLUSTER_MAPS = (("exchanges", "by_sending_cluster"), ("exchanges", "by_host_cluster"), ("participants", "by_cluster"))
# Figures derived from several items, and the count of those items in the same scoreboard.
_DERIVED = {
    ("meetings", "acceptance_rate"): ("meetings", "requested"),
    ("satisfaction", "average"): ("satisfaction", "responses"),
    ("lump_sums_eur", "committed"): ("exchanges", "total"),
    ("lump_sums_eur", "paid"): ("satisfaction", "responses"),  # paid = counted exchanges with a closing report
}
_NOT_COUNTS = {("as_of",)}
# Time series whose values are sums of amounts rather than counts of items.
AMOUNT_METRICS = ("lump_sums_committed", "lump_sums_paid")


def audience_of(role: str | None) -> str:
    if role is None:
        return "public"
    return "partner" if role == "partner" else "full"


def small(n: Any) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and 0 < n < THRESHOLD


def scoreboard(board: dict[str, Any], audience: str, own_cluster: str | None = None) -> dict[str, Any]:
    """``board`` as ``audience`` may read it (a copy)."""
    if audience == "full":
        return board
    out = copy.deepcopy(board)
    for section, name in _CLUSTER_MAPS:
        values = out[section][name]
        out[section][name] = {k: v for k, v in values.items() if audience == "partner" and k == own_cluster}
    for (section, name), (base_section, base_name) in _DERIVED.items():
        base = board[base_section][base_name]
        if base is not None and base < THRESHOLD:
            out[section][name] = None
    _suppress_counts(out, ())
    out["disclosure"] = {"audience": audience, "suppressed_below": THRESHOLD}
    return out


def _suppress_counts(node: dict[str, Any], path: tuple[str, ...]) -> None:
    for key, value in node.items():
        here = (*path, key)
        if here[:1] in _NOT_COUNTS or (len(here) == 2 and here in _DERIVED):
            continue
        if isinstance(value, dict):
            _suppress_counts(value, here)
        elif small(value):
            node[key] = None


def timeseries(series: dict[str, Any], audience: str) -> dict[str, Any]:
    """Per-period values and running totals, suppressed where fewer than 5 items stand behind them.

    The points carry ``items`` (how many exchanges, participants, ... each value is made of), which is
    dropped here for every audience."""
    out = {**series, "points": []}
    running_items = 0
    for point in series["points"]:
        items = point["items"]
        running_items += items
        shown = {"period": point["period"], "value": point["value"], "cumulative": point["cumulative"]}
        if audience != "full":
            if 0 < items < THRESHOLD:
                shown["value"] = None
            if 0 < running_items < THRESHOLD:
                shown["cumulative"] = None
        out["points"].append(shown)
    if audience != "full":
        out["disclosure"] = {"audience": audience, "suppressed_below": THRESHOLD}
    return out
