"""The scheduler's size limits, computed before anything is built (issue 13, point 9). Pure."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from services.matchmaking.domain import bounds, slots
from services.matchmaking.domain.scheduler import Meeting, Problem, solve
from services.matchmaking.settings import MatchmakingSettings

LIMITS = bounds.ScheduleLimits(days=366, slots=2000, meetings=20_000, cells=1_000_000)


def settings(**overrides) -> dict:
    return {"day_start": "09:00", "day_end": "17:00", "slot_minutes": 30, "tables": 10,
            "timezone": "Europe/Berlin", **overrides}


@pytest.mark.parametrize(("starts_on", "ends_on", "day_start", "day_end", "minutes", "zone"), [
    (date(2026, 3, 28), date(2026, 3, 30), "09:00", "17:00", 30, "Europe/Berlin"),  # summer time starts
    (date(2026, 10, 24), date(2026, 10, 26), "00:00", "23:59", 5, "Europe/Berlin"),  # and ends: wall clock
    (date(2026, 6, 1), date(2026, 6, 1), "09:00", "10:40", 45, "Europe/Warsaw"),  # a remainder is no slot
    (date(2026, 6, 1), date(2026, 6, 4), "09:00", "09:20", 30, "UTC"),  # a day shorter than a slot
    (date(2026, 6, 1), date(2026, 6, 1), "17:00", "09:00", 30, "UTC"),  # a day that ends before it starts
    (date(2026, 6, 1), date(2026, 6, 2), "08:15:30", "12:00", 20, "Asia/Kolkata"),
])
def test_size_is_the_length_of_the_grid_it_predicts(starts_on, ends_on, day_start, day_end, minutes, zone):
    size = slots.size(starts_on, ends_on, settings(day_start=day_start, day_end=day_end, slot_minutes=minutes,
                                                   timezone=zone))
    grid = slots.grid(starts_on, ends_on, day_start, day_end, minutes, zone)
    assert size.slots == len(grid)
    assert size.days == (ends_on - starts_on).days + 1
    assert size.slots_per_day == sum(1 for s in grid if s.day == 0)


def test_a_hundred_year_activity_with_five_minute_slots_is_sized_without_building_it():
    size = slots.size(date(2026, 1, 1), date(2125, 12, 31), settings(day_start="00:00", day_end="23:55",
                                                                      slot_minutes=5))
    assert (size.days, size.slots_per_day, size.slots) == (36524, 287, 36524 * 287)
    with pytest.raises(bounds.ScheduleTooLarge) as refused:
        bounds.check_grid(size, LIMITS)
    assert (refused.value.rule, refused.value.limit, refused.value.value) == ("span", 366, 36524)
    # Even the widest span dates allow, in minutes, is only arithmetic.
    assert slots.size(date.min, date.max, settings(day_start="00:00", day_end="23:59", slot_minutes=1)).slots \
        == ((date.max - date.min).days + 1) * 1439


def test_the_grid_limits_the_span_then_the_slots():
    bounds.check_grid(slots.GridSize(days=366, slots_per_day=5), LIMITS)  # 1830 slots: within both
    with pytest.raises(bounds.ScheduleTooLarge) as refused:
        bounds.check_grid(slots.GridSize(days=367, slots_per_day=1), LIMITS)
    assert refused.value.rule == "span"
    with pytest.raises(bounds.ScheduleTooLarge) as refused:
        bounds.check_grid(slots.GridSize(days=7, slots_per_day=288), LIMITS)
    assert (refused.value.rule, refused.value.limit, refused.value.value) == ("slots", 2000, 2016)
    assert "2016 slots (7 days × 288 a day)" in refused.value.detail


def test_the_run_limits_meetings_then_slots_times_rows():
    size = slots.GridSize(days=2, slots_per_day=16)
    bounds.check_work(size, participants=2000, meetings=15_000, periods=4000, limits=LIMITS)  # 672,000 cells
    with pytest.raises(bounds.ScheduleTooLarge) as refused:
        bounds.check_work(size, participants=10, meetings=20_001, periods=0, limits=LIMITS)
    assert (refused.value.rule, refused.value.value) == ("meetings", 20_001)
    wide = slots.GridSize(days=100, slots_per_day=20)
    bounds.check_work(wide, participants=100, meetings=300, periods=100, limits=LIMITS)  # exactly the limit
    with pytest.raises(bounds.ScheduleTooLarge) as refused:
        bounds.check_work(wide, participants=100, meetings=300, periods=101, limits=LIMITS)
    assert (refused.value.rule, refused.value.limit, refused.value.value) == ("cells", 1_000_000, 2000 * 501)
    assert "2000 slots × (100 participants + 300 accepted meetings + 101 unavailable periods)" in refused.value.detail


@pytest.mark.parametrize(("change", "named"), [
    ({"slot_minutes": 0}, "slot_minutes"),
    ({"slot_minutes": -30}, "slot_minutes"),
    ({"slot_minutes": 24 * 60 + 1}, "slot_minutes"),
    ({"slot_minutes": True}, "slot_minutes"),
    ({"slot_minutes": "30"}, "slot_minutes"),
    ({"slot_minutes": None}, "slot_minutes"),
    ({"day_start": "9am"}, "day_start"),
    ({"day_end": "17:00+02:00"}, "day_end"),
    ({"day_end": None}, "day_end"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"timezone": "x" * 5000}, "timezone"),
    ({"timezone": None}, "timezone"),
    ({"tables": -1}, "tables"),
])
def test_settings_no_grid_can_be_built_from_are_named(change, named):
    with pytest.raises(slots.InvalidMeetingSettings) as refused:
        slots.size(date(2026, 6, 1), date(2026, 6, 1), settings(**change))
    assert named in str(refused.value)


def test_an_activity_that_ends_before_it_starts_has_no_grid():
    with pytest.raises(slots.InvalidMeetingSettings):
        slots.size(date(2026, 6, 2), date(2026, 6, 1), settings())


def test_settings_carry_the_limits_and_cap_the_search_budget():
    s = MatchmakingSettings(max_schedule_days=30, max_schedule_slots=500, max_schedule_meetings=100,
                            max_schedule_cells=9999)
    assert s.schedule_limits == bounds.ScheduleLimits(days=30, slots=500, meetings=100, cells=9999)
    assert MatchmakingSettings().schedule_limits == LIMITS
    with pytest.raises(ValidationError):
        MatchmakingSettings(schedule_time_limit_s=301)
    with pytest.raises(ValidationError):
        MatchmakingSettings(max_schedule_slots=0)


def test_the_greedy_phase_stops_at_the_time_limit_with_a_feasible_schedule():
    problem = Problem(slots=4, tables=None, meetings=(Meeting("m1", "a", "b"), Meeting("m2", "b", "c")))
    assert solve(problem, time_limit=0).scheduled == 0
    assert solve(problem, time_limit=5).scheduled == 2
