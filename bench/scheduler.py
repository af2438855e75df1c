"""Scheduler benchmark: seeded instances, scheduled / upper bound, idle gaps, runtime, exact optimum on small ones.

    python bench/scheduler.py                       # the standard set (100, 500, 2000 participants + small exact)
    python bench/scheduler.py --sizes 500 --time-limit 8

Instances: each participant has 5–15 accepted meetings (configuration model: random pairing of
"meeting stubs", no self-pairs or duplicates, 20% of the pairs mutual), 16–32 slots over two days,
tables = 30% of participants, and each participant unavailable for a contiguous 10% of the slots.
The exact optimum comes from an integer programme (PuLP + CBC, a dev dependency) when it is installed.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.matchmaking.domain.scheduler import Meeting, Problem, solve, upper_bound  # noqa: E402


def instance(participants: int, seed: int, *, slots: int | None = None, tables_ratio: float = 0.3,
             min_meetings: int = 5, max_meetings: int = 15, unavailable: float = 0.1,
             mutual: float = 0.2) -> Problem:
    rng = random.Random(seed)
    S = slots if slots is not None else rng.randint(16, 32)
    people = [f"p{i:05d}" for i in range(participants)]
    stubs = [p for p in people for _ in range(rng.randint(min_meetings, max_meetings))]
    rng.shuffle(stubs)
    pairs: set[tuple[str, str]] = set()
    for a, b in zip(stubs[::2], stubs[1::2]):
        if a != b:
            pairs.add((min(a, b), max(a, b)))
    meetings = tuple(
        Meeting(id=f"m{i:06d}", a=a, b=b, mutual=rng.random() < mutual) for i, (a, b) in enumerate(sorted(pairs))
    )
    block = round(unavailable * S)
    away = {}
    for p in people:
        if block:
            start = rng.randrange(0, S - block + 1)
            away[p] = frozenset(range(start, start + block))
    return Problem(
        slots=S, tables=max(1, round(tables_ratio * participants)), meetings=meetings, unavailable=away,
        slot_days=tuple(0 if s < S // 2 else 1 for s in range(S)),
    )


def exact_optimum(problem: Problem, time_limit: float) -> tuple[int | None, int | None, str]:
    """(mutual, total) of the lexicographic optimum by ILP, and the solver status; None without PuLP."""
    try:
        import pulp
    except ImportError:
        return None, None, "pulp not installed"
    model = pulp.LpProblem("schedule", pulp.LpMaximize)
    x = {}
    for i, m in enumerate(problem.meetings):
        away = problem.unavailable.get(m.a, frozenset()) | problem.unavailable.get(m.b, frozenset())
        for s in range(problem.slots):
            if s not in away:
                x[i, s] = pulp.LpVariable(f"x_{i}_{s}", cat="Binary")
    big = len(problem.meetings) + 1
    model += pulp.lpSum((big if problem.meetings[i].mutual else 1) * v for (i, _), v in x.items())
    by_meeting: dict[int, list] = {}
    by_person_slot: dict[tuple[str, int], list] = {}
    by_slot: dict[int, list] = {}
    for (i, s), v in x.items():
        m = problem.meetings[i]
        by_meeting.setdefault(i, []).append(v)
        by_person_slot.setdefault((m.a, s), []).append(v)
        by_person_slot.setdefault((m.b, s), []).append(v)
        by_slot.setdefault(s, []).append(v)
    for vs in by_meeting.values():
        model += pulp.lpSum(vs) <= 1
    for vs in by_person_slot.values():
        if len(vs) > 1:
            model += pulp.lpSum(vs) <= 1
    if problem.tables is not None:
        for vs in by_slot.values():
            model += pulp.lpSum(vs) <= problem.tables
    model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit))
    status = pulp.LpStatus[model.status]
    chosen = [i for (i, _), v in x.items() if (v.value() or 0) > 0.5]
    mutual = sum(problem.meetings[i].mutual for i in chosen)
    optimal = model.sol_status == pulp.LpSolutionOptimal
    return mutual, len(chosen), status if optimal else f"{status} (time limit, not proven)"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def run(sizes: list[int], exact_sizes: list[int], seed: int, time_limit: float, exact_limit: float) -> None:
    print(f"machine: {machine()}")
    print(f"seed {seed}, scheduler time limit {time_limit:g} s (stops early at the upper bound)\n")
    header = f"{'participants':>12} {'slots':>5} {'tables':>6} {'meetings':>8} {'mutual':>6} {'scheduled':>9} " \
             f"{'bound':>6} {'% bound':>7} {'mutual sched':>12} {'idle gaps':>9} {'runtime s':>9} {'exact':>12}"
    print(header)
    print("-" * len(header))
    for n in sorted(set(sizes) | set(exact_sizes)):
        p = instance(n, seed)
        t0 = time.perf_counter()
        result = solve(p, time_limit=time_limit, seed=seed)
        elapsed = time.perf_counter() - t0
        bound = upper_bound(p)
        mutual_total = sum(m.mutual for m in p.meetings)
        mutual_sched = sum(m.mutual for m in p.meetings if m.id in result.placements)
        exact = ""
        if n in exact_sizes:
            em, et, status = exact_optimum(p, exact_limit)
            exact = f"{et} ({status})" if et is not None else status
            if et is not None:
                exact = f"{et}/{em}m {status}"
        print(f"{n:>12} {p.slots:>5} {p.tables:>6} {len(p.meetings):>8} {mutual_total:>6} {result.scheduled:>9} "
              f"{bound:>6} {100 * result.scheduled / max(bound, 1):>6.1f}% {mutual_sched:>12} {result.idle_gaps:>9} "
              f"{elapsed:>9.2f} {exact:>12}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[100, 500, 2000])
    ap.add_argument("--exact", type=int, nargs="*", default=[20, 40, 100], help="sizes also solved exactly")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--time-limit", type=float, default=8.0)
    ap.add_argument("--exact-time-limit", type=float, default=120.0)
    a = ap.parse_args()
    run(a.sizes, a.exact, a.seed, a.time_limit, a.exact_time_limit)


if __name__ == "__main__":
    main()
