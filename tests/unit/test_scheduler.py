"""The meeting scheduler: hard constraints on random instances, optimality against brute force, re-scheduling."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.matchmaking.domain.scheduler import Meeting, Problem, idle_gaps, solve, upper_bound


@st.composite
def problems(draw, max_people=12, max_slots=8, online=None, min_people=2, min_slots=1, dense=False):
    n = draw(st.integers(min_people, max_people))
    people = [f"p{i}" for i in range(n)]
    slots = draw(st.integers(min_slots, max_slots))
    pairs = draw(st.lists(
        st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda t: t[0] != t[1]),
        min_size=n if dense else 0, max_size=3 * n, unique_by=lambda t: (min(t), max(t)),
    ))
    meetings = tuple(
        Meeting(id=f"m{i}", a=people[a], b=people[b], mutual=draw(st.booleans())) for i, (a, b) in enumerate(pairs)
    )
    away = {p: frozenset(draw(st.sets(st.integers(0, slots - 1), max_size=1 if dense else slots))) for p in people}
    is_online = draw(st.booleans()) if online is None else online
    tables = None if is_online else draw(st.integers(0, n))
    days = tuple(sorted(draw(st.lists(st.integers(0, 1), min_size=slots, max_size=slots))))
    return Problem(slots=slots, tables=tables, meetings=meetings, unavailable=away, slot_days=days)


def assert_feasible(problem: Problem, schedule) -> None:
    by_id = {m.id: m for m in problem.meetings}
    seen: set[tuple[str, int]] = set()
    tables_used: set[tuple[int, int]] = set()
    per_slot = Counter()
    for mid, place in schedule.placements.items():
        m = by_id[mid]
        assert 0 <= place.slot < problem.slots
        for p in (m.a, m.b):
            assert (p, place.slot) not in seen, f"{p} double-booked in slot {place.slot}"
            seen.add((p, place.slot))
            assert place.slot not in problem.unavailable.get(p, ()), f"{mid} in an unavailable slot of {p}"
        per_slot[place.slot] += 1
        if problem.tables is None:
            assert place.table is None
        else:
            assert 1 <= place.table <= problem.tables
            assert (place.slot, place.table) not in tables_used, "two meetings at one table"
            tables_used.add((place.slot, place.table))
    if problem.tables is not None:
        assert max(per_slot.values(), default=0) <= problem.tables
    assert set(schedule.placements) | set(schedule.unscheduled) == set(by_id)
    assert not set(schedule.placements) & set(schedule.unscheduled)


def brute_force(problem: Problem) -> tuple[int, int]:
    """Lexicographic optimum (mutual scheduled, scheduled) by exhaustive branch and bound."""
    ms = problem.meetings
    cap = problem.tables if problem.tables is not None else len(ms)
    taken: set[tuple[str, int]] = set()
    load = Counter()
    best = (-1, -1)

    def go(i: int, mutual: int, total: int) -> None:
        nonlocal best
        rest = ms[i:]
        if (mutual + sum(m.mutual for m in rest), total + len(rest)) <= best:
            return
        if i == len(ms):
            best = max(best, (mutual, total))
            return
        m = ms[i]
        away = problem.unavailable.get(m.a, frozenset()) | problem.unavailable.get(m.b, frozenset())
        for s in range(problem.slots):
            if s in away or load[s] >= cap or (m.a, s) in taken or (m.b, s) in taken:
                continue
            taken.update({(m.a, s), (m.b, s)})
            load[s] += 1
            go(i + 1, mutual + m.mutual, total + 1)
            load[s] -= 1
            taken.difference_update({(m.a, s), (m.b, s)})
        go(i + 1, mutual, total)

    go(0, 0, 0)
    return best


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_no_participant_is_double_booked_no_table_overflows_and_nothing_lands_in_unavailable_slots(problem):
    schedule = solve(problem, time_limit=60)
    assert_feasible(problem, schedule)
    assert schedule.scheduled <= schedule.upper_bound == upper_bound(problem)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(problems(min_people=4, max_people=7, min_slots=2, max_slots=4, dense=True))
def test_small_instances_reach_the_brute_force_optimum_mutual_meetings_first(problem):
    schedule = solve(problem, time_limit=60)
    mutual = sum(m.mutual for m in problem.meetings if m.id in schedule.placements)
    assert (mutual, schedule.scheduled) == brute_force(problem)


def test_online_activity_has_no_table_limit():
    meetings = tuple(Meeting(f"m{i}", f"a{i}", f"b{i}") for i in range(50))
    schedule = solve(Problem(slots=1, tables=None, meetings=meetings))
    assert schedule.scheduled == 50
    assert {p.table for p in schedule.placements.values()} == {None}


def test_table_count_caps_each_slot():
    meetings = tuple(Meeting(f"m{i}", f"a{i}", f"b{i}") for i in range(10))
    schedule = solve(Problem(slots=2, tables=3, meetings=meetings))
    assert schedule.scheduled == 6 == schedule.upper_bound
    assert len(schedule.unscheduled) == 4


def test_mutual_meeting_wins_the_only_slot():
    meetings = (Meeting("one-sided", "a", "b"), Meeting("mutual", "a", "c", mutual=True))
    schedule = solve(Problem(slots=1, tables=5, meetings=meetings))
    assert list(schedule.placements) == ["mutual"]


def test_meetings_are_packed_without_idle_gaps_when_possible():
    # a meets b, c, d; three slots; any order without holes is gap-free for a.
    meetings = (Meeting("ab", "a", "b"), Meeting("ac", "a", "c"), Meeting("ad", "a", "d"), Meeting("bc", "b", "c"))
    schedule = solve(Problem(slots=6, tables=2, meetings=meetings))
    assert schedule.scheduled == 4
    assert schedule.idle_gaps == 0


def test_idle_gaps_count_only_free_available_slots_within_a_day():
    problem = Problem(slots=6, tables=1, meetings=(), unavailable={"a": frozenset({2})}, slot_days=(0, 0, 0, 0, 1, 1))
    # a meets in slots 0, 3 (one free idle slot 1, slot 2 unavailable) and 4 (next day: no gap)
    assert idle_gaps(problem, {"a": [0, 3, 4]}) == 1


def test_rescheduling_keeps_locked_meetings_and_reports_what_moved_or_dropped():
    meetings = (
        Meeting("locked", "a", "b", locked=True), Meeting("kept", "c", "d"),
        Meeting("must-move", "e", "f"), Meeting("new", "a", "c"),
    )
    previous = {"locked": (0, 1), "kept": (1, 1), "must-move": (2, 1)}
    # e became unavailable in slot 2 after the first schedule was published.
    problem = Problem(slots=3, tables=1, meetings=meetings, unavailable={"e": frozenset({2})}, previous=previous)
    schedule = solve(problem)
    assert schedule.placements["locked"].slot == 0 and schedule.placements["locked"].table == 1
    assert schedule.placements["kept"].slot == 1
    assert "must-move" not in schedule.placements or schedule.placements["must-move"].slot != 2
    assert set(schedule.moved) | set(schedule.dropped) == {"must-move"}
    assert_feasible(problem, schedule)


def test_locked_meeting_is_not_evicted_even_for_a_mutual_one():
    meetings = (Meeting("locked", "a", "b", locked=True), Meeting("mutual", "a", "c", mutual=True))
    problem = Problem(slots=1, tables=2, meetings=meetings, previous={"locked": (0, 1)})
    schedule = solve(problem)
    assert list(schedule.placements) == ["locked"]
    assert schedule.unscheduled == ("mutual",)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(max_people=10, max_slots=6))
def test_rescheduling_an_unchanged_problem_moves_nothing(problem):
    first = solve(problem, time_limit=60)
    again = Problem(
        slots=problem.slots, tables=problem.tables, meetings=problem.meetings, unavailable=problem.unavailable,
        slot_days=problem.slot_days,
        previous={mid: (p.slot, p.table) for mid, p in first.placements.items()},
    )
    second = solve(again, time_limit=60, seed=7)
    assert second.moved == () and second.dropped == ()
    assert {k: v for k, v in second.placements.items() if k in first.placements} == first.placements
    assert second.scheduled >= first.scheduled
