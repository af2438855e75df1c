"""How large a scheduling problem matchmaking agrees to build. Pure.

The grid, the unavailability sets and the solver's matrices grow with slots × (participants + meetings +
unavailable periods), and the solver's greedy phase runs through all of it before its time limit can stop
anything. So every size is checked by arithmetic first, and a run that would be too large is refused
before a single slot object exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.matchmaking.domain.slots import GridSize


@dataclass(frozen=True)
class ScheduleLimits:
    days: int  # span of the activity, first to last day
    slots: int  # slots of the grid: every participant's row in the solver is this long
    meetings: int  # accepted meetings in one run
    cells: int  # slots × (participants + accepted meetings + unavailable periods)


class ScheduleTooLarge(Exception):
    def __init__(self, rule: str, limit: int, value: int, detail: str) -> None:
        super().__init__(detail)
        self.rule, self.limit, self.value, self.detail = rule, limit, value, detail


def check_grid(size: GridSize, limits: ScheduleLimits) -> None:
    """The activity's own span and grid, known from its settings alone."""
    if size.days > limits.days:
        raise ScheduleTooLarge(
            "span", limits.days, size.days,
            f"The activity spans {size.days} days; a schedule covers at most {limits.days}",
        )
    if size.slots > limits.slots:
        raise ScheduleTooLarge(
            "slots", limits.slots, size.slots,
            f"The activity's meeting settings make {size.slots} slots ({size.days} days × {size.slots_per_day} "
            f"a day); a schedule has at most {limits.slots}: use longer slots, shorter days or fewer days",
        )


def check_work(size: GridSize, participants: int, meetings: int, periods: int, limits: ScheduleLimits) -> None:
    """What the run would build: one row of slots per participant, per meeting and per unavailable period."""
    if meetings > limits.meetings:
        raise ScheduleTooLarge(
            "meetings", limits.meetings, meetings,
            f"The activity has {meetings} accepted meetings; one schedule run places at most {limits.meetings}",
        )
    cells = size.slots * (participants + meetings + periods)
    if cells > limits.cells:
        raise ScheduleTooLarge(
            "cells", limits.cells, cells,
            f"{size.slots} slots × ({participants} participants + {meetings} accepted meetings + {periods} "
            f"unavailable periods) = {cells}; one schedule run handles at most {limits.cells}",
        )
