"""The scoreboard computed from facts folded in memory: known truth, any order, repeats, filters."""

from __future__ import annotations

import random
from datetime import date

from services.reporting.domain.facts import FactBook
from services.reporting.domain.kpis import Scope, flatten, programme_start, scoreboard, timeseries
from tests.reporting_history import generate


def fold(envelopes) -> FactBook:
    book = FactBook()
    for e in envelopes:
        book.apply(e.type, e.payload(), e.time, e.id)
    return book


def test_shuffled_history_with_repeats_and_erasures_gives_the_known_scoreboard():
    history = generate()
    assert len(history.delivery) > len(history.envelopes), "the delivery repeats events"
    assert scoreboard(fold(history.delivery)) == history.truth


def test_every_arrival_order_converges_to_the_same_facts():
    history = generate()
    reference = fold(history.envelopes).aggregates
    for seed in range(5):
        delivery = list(history.delivery)
        random.Random(seed).shuffle(delivery)
        assert fold(delivery).aggregates == reference


def test_approval_before_application_counts_once_the_application_arrives():
    history = generate()
    approvals_first = sorted(history.envelopes, key=lambda e: e.type != "exchange.approved")
    assert scoreboard(fold(approvals_first)) == history.truth


def test_cluster_filter_counts_that_clusters_participants_exchanges_activities_and_meetings():
    history = generate()
    assert scoreboard(fold(history.delivery), Scope(cluster="gaia")) == history.truth_gaia


def test_erased_participants_still_count_anonymously():
    history = generate()
    without_erasures = [e for e in history.envelopes if e.type != "participant.erased"]
    erased = scoreboard(fold(history.envelopes))
    kept = scoreboard(fold(without_erasures))
    assert erased["participants"] == kept["participants"]
    assert erased["as_of"]["events_applied"] == kept["as_of"]["events_applied"] + sum(
        e.type == "participant.erased" for e in history.envelopes)


def test_cancelled_and_unapproved_exchanges_do_not_count_but_show_in_status():
    board = scoreboard(fold(generate().envelopes))
    statuses = board["exchanges"]["by_status"]
    assert statuses["cancelled"] > 0 and statuses["applied"] > 0
    assert board["exchanges"]["total"] == statuses.get("approved", 0) + statuses.get("completed", 0)


def test_period_filter_keeps_exchanges_starting_inside_it():
    book = fold(generate().envelopes)
    all_time = scoreboard(book)["exchanges"]["total"]
    first_half = scoreboard(book, Scope(end=date(2025, 6, 30)))["exchanges"]["total"]
    second_half = scoreboard(book, Scope(start=date(2025, 7, 1)))["exchanges"]["total"]
    assert 0 < first_half < all_time and first_half + second_half == all_time


def test_timeseries_is_contiguous_and_its_cumulative_total_matches_the_scoreboard():
    book = fold(generate().delivery)
    board = scoreboard(book)
    for metric, expected in [("exchanges", board["exchanges"]["total"]), ("smes", board["exchanges"]["smes"]),
                             ("participants", board["participants"]["total"]),
                             ("lump_sums_committed", board["lump_sums_eur"]["committed"]),
                             ("meetings_held", board["meetings"]["held"])]:
        for interval in ("month", "quarter"):
            series = timeseries(book, metric, interval)
            points = series["points"]
            assert points[-1]["cumulative"] == expected == sum(p["value"] for p in points), (metric, interval)
    quarters = [p["period"] for p in timeseries(book, "exchanges", "quarter")["points"]]
    assert quarters[:3] == ["2025-Q1", "2025-Q2", "2025-Q3"]
    months = [p["period"] for p in timeseries(book, "participants", "month")["points"]]
    assert months == sorted(months) and len(months) == len(set(months)) and "2025-02" in months
    assert programme_start(book) == "2025-01"


def test_flatten_gives_one_dotted_row_per_leaf():
    rows = dict(flatten({"a": {"b": 1, "c": {"d": None}}, "e": 2}))
    assert rows == {"a.b": 1, "a.c.d": None, "e": 2}
