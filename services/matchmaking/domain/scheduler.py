"""The B2B meeting scheduler: accepted meetings → (slot, table). Pure: no I/O, deterministic for a seed.

Constraints: a participant is in at most one meeting per slot and only in slots they are available for; a
slot holds at most ``tables`` meetings (``tables=None``: online, no limit). Objectives, lexicographic:
most mutual meetings scheduled, then most meetings scheduled, then fewest idle gaps (free, available slots
between a participant's first and last meeting of a day).

Method: most-constrained-first greedy construction, then augmenting ejection chains (place an unscheduled
meeting by evicting one blocking meeting and re-placing that one, depth-first with a node budget), then
random-walk perturbations that are kept only when they do not lose meetings, then hill climbing on idle
gaps with single-meeting relocations. Every phase keeps the solution feasible, so stopping at the time
limit still yields a valid schedule.

Re-scheduling: ``previous`` placements seed the solution. ``locked`` meetings keep their previous slot
(hard) whenever that slot is still feasible; other previously placed meetings move only when an
augmenting chain needs them, and the gap phase never moves them. The result reports which meetings moved
and which were dropped, so the caller can publish every change.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

FREE = -1
AWAY = -2  # participant unavailable in that slot


@dataclass(frozen=True)
class Meeting:
    id: str
    a: str
    b: str
    mutual: bool = False
    locked: bool = False


@dataclass(frozen=True)
class Problem:
    slots: int
    tables: int | None
    meetings: tuple[Meeting, ...]
    unavailable: Mapping[str, frozenset[int]] = field(default_factory=dict)
    # day index of each slot; idle gaps are only counted within a day. None: one day.
    slot_days: tuple[int, ...] | None = None
    # meeting id -> (slot, table) of the schedule being revised
    previous: Mapping[str, tuple[int, int | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.slots < 0:
            raise ValueError("slots must be >= 0")
        if self.tables is not None and self.tables < 0:
            raise ValueError("tables must be >= 0 or None")
        if self.slot_days is not None and len(self.slot_days) != self.slots:
            raise ValueError("slot_days must name a day for every slot")
        ids = [m.id for m in self.meetings]
        if len(set(ids)) != len(ids):
            raise ValueError("meeting ids must be unique")
        for m in self.meetings:
            if m.a == m.b:
                raise ValueError(f"meeting {m.id} has the same participant on both sides")


@dataclass(frozen=True)
class Placement:
    slot: int
    table: int | None


@dataclass(frozen=True)
class Schedule:
    placements: dict[str, Placement]
    unscheduled: tuple[str, ...]
    upper_bound: int
    idle_gaps: int
    moved: tuple[str, ...] = ()  # previously placed, now in another slot
    dropped: tuple[str, ...] = ()  # previously placed, now unscheduled

    @property
    def scheduled(self) -> int:
        return len(self.placements)


def upper_bound(problem: Problem) -> int:
    """min(⌊Σ_p min(meetings_p, available slots_p) / 2⌋, slots × tables): no schedule can beat it."""
    degree: dict[str, int] = {}
    for m in problem.meetings:
        degree[m.a] = degree.get(m.a, 0) + 1
        degree[m.b] = degree.get(m.b, 0) + 1
    per_participant = sum(
        min(d, problem.slots - len(problem.unavailable.get(p, frozenset()) & _range_set(problem.slots)))
        for p, d in degree.items()
    )
    bound = per_participant // 2
    if problem.tables is not None:
        bound = min(bound, problem.slots * problem.tables)
    return min(bound, len(problem.meetings))


def _range_set(n: int) -> frozenset[int]:
    return frozenset(range(n))


def idle_gaps(problem: Problem, slots_of: Mapping[str, list[int]]) -> int:
    """Idle gaps of a schedule given as participant → slots of their meetings."""
    days = problem.slot_days or (0,) * problem.slots
    total = 0
    for p, slots in slots_of.items():
        away = problem.unavailable.get(p, frozenset())
        taken = sorted(slots)
        for s, t in zip(taken, taken[1:]):
            if days[s] == days[t]:
                total += sum(1 for u in range(s + 1, t) if u not in away)
    return total


def solve(problem: Problem, *, time_limit: float = 5.0, seed: int = 0) -> Schedule:
    return _Solver(problem, seed).run(time_limit)


class _Solver:
    def __init__(self, problem: Problem, seed: int) -> None:
        self.problem = problem
        self.rng = random.Random(seed)
        S = problem.slots
        self.S = S
        self.cap = problem.tables if problem.tables is not None else len(problem.meetings) + 1
        self.days = problem.slot_days or (0,) * S
        people = sorted({p for m in problem.meetings for p in (m.a, m.b)})
        self.pid = {p: i for i, p in enumerate(people)}
        self.busy = [[FREE] * S for _ in people]
        for p, away in problem.unavailable.items():
            if p in self.pid:
                row = self.busy[self.pid[p]]
                for s in away:
                    if 0 <= s < S:
                        row[s] = AWAY
        ms = problem.meetings
        self.A = [self.pid[m.a] for m in ms]
        self.B = [self.pid[m.b] for m in ms]
        self.tier = [1 if m.mutual else 0 for m in ms]
        self.where = [FREE] * len(ms)
        self.fixed = [False] * len(ms)
        self.members: list[set[int]] = [set() for _ in range(S)]
        self.feas = [
            [s for s in range(S) if self.busy[a][s] != AWAY and self.busy[b][s] != AWAY]
            for a, b in zip(self.A, self.B)
        ]
        self.deg = [0] * len(people)
        for a, b in zip(self.A, self.B):
            self.deg[a] += 1
            self.deg[b] += 1
        self.count = 0
        self.mutual_count = 0
        self.budget = 0
        self.deadline = 0.0
        self.min_tier = 0
        self.mutual_floor = 0

    # --- primitive moves ---------------------------------------------------------------------------

    def fits(self, m: int, s: int) -> bool:
        return (
            self.busy[self.A[m]][s] == FREE and self.busy[self.B[m]][s] == FREE
            and len(self.members[s]) < self.cap
        )

    def place(self, m: int, s: int) -> None:
        self.busy[self.A[m]][s] = m
        self.busy[self.B[m]][s] = m
        self.members[s].add(m)
        self.where[m] = s
        self.count += 1
        self.mutual_count += self.tier[m]

    def unplace(self, m: int) -> int:
        s = self.where[m]
        self.busy[self.A[m]][s] = FREE
        self.busy[self.B[m]][s] = FREE
        self.members[s].discard(m)
        self.where[m] = FREE
        self.count -= 1
        self.mutual_count -= self.tier[m]
        return s

    def score(self) -> tuple[int, int]:
        return self.mutual_count, self.count

    # --- phases --------------------------------------------------------------------------------------

    def run(self, time_limit: float) -> Schedule:
        start = time.perf_counter()
        self.deadline = start + time_limit
        bound = upper_bound(self.problem)
        self.seed_previous()
        # Mutual requests first, lexicographically: optimise the mutual meetings alone, then add the
        # one-sided ones with moves that never lower the mutual count.
        stages = [(1, start + time_limit * 0.35), (0, start + time_limit * 0.75)]
        for self.min_tier, stage_deadline in stages:
            self.mutual_floor = self.mutual_count
            target = self.stage_bound(bound)
            self.construct()
            if self.improvable(target):
                self.augment_all(stage_deadline)
            if self.improvable(target):
                self.perturb(target, stage_deadline)
        self.reduce_gaps()
        return self.result(bound)

    def stage_bound(self, bound: int) -> int:
        if self.min_tier == 0:
            return bound
        mutual = tuple(m for m in self.problem.meetings if m.mutual)
        return upper_bound(Problem(self.S, self.problem.tables, mutual, self.problem.unavailable))

    def seed_previous(self) -> None:
        prev = self.problem.previous
        # Locked meetings first: they are the ones people were told about and must not move.
        order = sorted(
            (i for i, m in enumerate(self.problem.meetings) if m.id in prev),
            key=lambda i: (not self.problem.meetings[i].locked, not self.tier[i]),
        )
        for i in order:
            s = prev[self.problem.meetings[i].id][0]
            if 0 <= s < self.S and self.fits(i, s):
                self.place(i, s)
                self.fixed[i] = self.problem.meetings[i].locked

    def construct(self) -> None:
        todo = [i for i in range(len(self.where)) if self.where[i] == FREE and self.tier[i] >= self.min_tier]
        todo.sort(key=lambda i: (-self.tier[i], len(self.feas[i]), -(self.deg[self.A[i]] + self.deg[self.B[i]])))
        for m in todo:
            # The greedy pass costs meetings × slots; past the deadline the schedule so far is returned as is.
            if time.perf_counter() >= self.deadline:
                return
            best, best_key = None, None
            a, b = self.A[m], self.B[m]
            for s in self.feas[m]:
                if not self.fits(m, s):
                    continue
                # Prefer slots next to the pair's other meetings (fewer gaps), then emptier slots.
                adj = sum(
                    1 for p in (a, b) for t in (s - 1, s + 1)
                    if 0 <= t < self.S and self.busy[p][t] >= 0 and self.days[t] == self.days[s]
                )
                key = (-adj, len(self.members[s]), s)
                if best_key is None or key < best_key:
                    best, best_key = s, key
            if best is not None:
                self.place(m, best)

    def improvable(self, bound: int) -> bool:
        """False once the stage's upper bound is met without losing the mutual meetings of stage one."""
        if self.min_tier:
            return self.mutual_count < bound
        return self.count < bound or self.mutual_count < self.mutual_floor

    def unscheduled(self) -> list[int]:
        todo = [
            i for i in range(len(self.where))
            if self.where[i] == FREE and self.feas[i] and self.tier[i] >= self.min_tier
        ]
        todo.sort(key=lambda i: (-self.tier[i], len(self.feas[i])))
        return todo

    def augment_all(self, deadline: float) -> None:
        improved = True
        depth = 3
        while improved and time.perf_counter() < deadline:
            improved = False
            for m in self.unscheduled():
                if time.perf_counter() >= deadline:
                    return
                if self.where[m] != FREE:
                    continue
                self.budget = 400 * depth
                if self.try_place(m, depth, {m}, 0):
                    improved = True
                elif self.tier[m]:
                    self.budget = 400 * depth
                    improved |= self.try_place(m, depth, {m}, self.tier[m])
            if not improved and depth < 6:
                depth += 1
                improved = True

    def blockers(self, m: int, s: int) -> list[int] | None:
        """Meetings to evict so ``m`` fits in ``s``; None when a locked meeting is in the way."""
        out = []
        for p in (self.A[m], self.B[m]):
            x = self.busy[p][s]
            if x >= 0 and x not in out:
                if self.fixed[x]:
                    return None
                out.append(x)
        if len(self.members[s]) - len(out) >= self.cap:
            movable = [x for x in self.members[s] if not self.fixed[x] and x not in out]
            if not movable:
                return None
            out.append(self.rng.choice(movable))
        return out

    def try_place(self, m: int, depth: int, chain: set[int], drop_below: int) -> bool:
        """Depth-first augmenting ejection chain: place m, evicting one meeting that is then re-placed.
        A meeting of a tier below ``drop_below`` may end the chain unscheduled (a mutual meeting displacing a
        one-sided one is a lexicographic improvement)."""
        for s in self.feas[m]:
            if self.fits(m, s):
                self.place(m, s)
                return True
        if self.tier[m] < drop_below:
            return True
        if depth == 0:
            return False
        options = []
        for s in self.feas[m]:
            blk = self.blockers(m, s)
            if blk is not None and len(blk) == 1 and blk[0] not in chain:
                options.append((s, blk[0]))
        self.rng.shuffle(options)
        for s, x in options:
            if self.budget <= 0:
                return False
            self.budget -= 1
            self.unplace(x)
            self.place(m, s)
            chain.add(x)
            if self.try_place(x, depth - 1, chain, drop_below):
                return True
            chain.discard(x)
            self.unplace(m)
            self.place(x, s)
        return False

    def perturb(self, bound: int, deadline: float) -> None:
        """Random walk: force an unscheduled meeting in, evicting its blockers, then try to re-place them.
        Kept when the score does not drop (plateau moves diversify) and, rarely, even when it does (to leave
        a local optimum); the best schedule seen is restored at the end."""
        best, best_where, stall = self.score(), self.where[:], 0
        while self.improvable(bound) and time.perf_counter() < deadline and stall < self.stall_limit():
            stall += 1
            if self.score() > best:
                best, best_where, stall = self.score(), self.where[:], 0
            todo = self.unscheduled()
            if not todo:
                return
            m = self.rng.choice(todo)
            before = self.score()
            log: list[tuple[int, int]] = []  # (meeting, old slot) for undo
            options = [(s, b) for s in self.feas[m] if (b := self.blockers(m, s)) is not None]
            if not options:
                continue
            s, blk = self.rng.choice(options)
            for x in blk:
                log.append((x, self.unplace(x)))
            self.place(m, s)
            log.append((m, FREE))
            for x in blk:
                self.budget = 300
                snapshot = self.where[:]
                self.try_place(x, 3, {m, x}, 0)
                for i, (old, new) in enumerate(zip(snapshot, self.where)):
                    if old != new and i != x:
                        log.append((i, old))
            if self.score() < before and self.rng.random() > 0.05:
                self.undo(log)
        if self.score() <= best:  # also undoes plateau wandering that gained nothing: fewer moved meetings
            self.restore(best_where)

    def restore(self, where: list[int]) -> None:
        for i, s in enumerate(self.where):
            if s != FREE and s != where[i]:
                self.unplace(i)
        for i, s in enumerate(where):
            if s != FREE and self.where[i] == FREE:
                self.place(i, s)

    def stall_limit(self) -> int:
        return max(500, min(5000, 20 * len(self.where)))

    def undo(self, log: list[tuple[int, int]]) -> None:
        touched = {m for m, _ in log}
        original: dict[int, int] = {}
        for m, old in log:
            original.setdefault(m, old)
        for m in touched:
            if self.where[m] != FREE:
                self.unplace(m)
        for m, old in original.items():
            if old != FREE:
                self.place(m, old)

    def gaps_of(self, p: int) -> int:
        row = self.busy[p]
        total = 0
        last = None
        idle = 0
        for s in range(self.S):
            v = row[s]
            if v >= 0:
                if last is not None and self.days[last] == self.days[s]:
                    total += idle
                last, idle = s, 0
            elif v == FREE:
                idle += 1
        return total

    def reduce_gaps(self) -> None:
        movable = [
            i for i, m in enumerate(self.problem.meetings)
            if self.where[i] != FREE and not self.fixed[i] and m.id not in self.problem.previous
        ]
        improved = True
        while improved and time.perf_counter() < self.deadline:
            improved = False
            self.rng.shuffle(movable)
            for m in movable:
                if time.perf_counter() >= self.deadline:
                    return
                a, b = self.A[m], self.B[m]
                before = self.gaps_of(a) + self.gaps_of(b)
                if before == 0:
                    continue
                s0 = self.unplace(m)
                best, best_cost = s0, before
                for s in self.feas[m]:
                    if s != s0 and self.fits(m, s):
                        self.place(m, s)
                        cost = self.gaps_of(a) + self.gaps_of(b)
                        self.unplace(m)
                        if cost < best_cost:
                            best, best_cost = s, cost
                self.place(m, best)
                improved |= best != s0

    # --- output --------------------------------------------------------------------------------------

    def result(self, bound: int) -> Schedule:
        ms = self.problem.meetings
        prev = self.problem.previous
        placements: dict[str, Placement] = {}
        for s in range(self.S):
            here = sorted(self.members[s], key=lambda i: ms[i].id)
            if self.problem.tables is None:
                for i in here:
                    placements[ms[i].id] = Placement(s, None)
                continue
            used: set[int] = set()
            rest = []
            for i in here:  # a meeting that stays in its slot keeps its table
                old = prev.get(ms[i].id)
                if old and old[0] == s and old[1] is not None and 1 <= old[1] <= self.cap and old[1] not in used:
                    used.add(old[1])
                    placements[ms[i].id] = Placement(s, old[1])
                else:
                    rest.append(i)
            free_tables = (t for t in range(1, self.cap + 1) if t not in used)
            for i in rest:
                placements[ms[i].id] = Placement(s, next(free_tables))
        slots_of: dict[str, list[int]] = {}
        for i, m in enumerate(ms):
            if self.where[i] != FREE:
                slots_of.setdefault(m.a, []).append(self.where[i])
                slots_of.setdefault(m.b, []).append(self.where[i])
        moved = tuple(m.id for m in ms if m.id in prev and m.id in placements and placements[m.id].slot != prev[m.id][0])
        dropped = tuple(m.id for m in ms if m.id in prev and m.id not in placements)
        return Schedule(
            placements=placements,
            unscheduled=tuple(m.id for m in ms if m.id not in placements),
            upper_bound=bound,
            idle_gaps=idle_gaps(self.problem, slots_of),
            moved=moved,
            dropped=dropped,
        )
