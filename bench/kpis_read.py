"""Scoreboard reads: p50/p99 of GET /v1/kpis at 1,000 and 100,000 participants, measured with wrk.

The projection is filled through its own batch path (``projection.apply_many``, as the consumer applies a
polled batch), straight into the reporting schema: registrations, exchanges (applied, approved, some
completed) and meeting requests over two programme years. The reporting service runs as users run it
(``python -m services.reporting``) and a coordinator key reads:

- ``all``: the programme scoreboard (no filter);
- ``cluster+period``: one cluster and a period across months (``from``/``to``), i.e. whole months plus edge days;
- ``fold`` (for contrast, a few sequential requests): the same unfiltered read computed from every fact, as
  before the kept sums.

    python -m bench.kpis_read [--sizes 1000,100000,370000] [--duration 10] [--connections 4] [--fold-max 100000]

370,000 participants make about 1,000,000 events (the issue's goal).

Needs ``wrk`` (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench._common import infra, percentile, process, python, save
from cxc.devstack import dev_environment
from cxc.infra.embedded import free_port

CLUSTERS = ["silicon-saxony", "pole-scs", "mazovia-ict", "business-hive-vilnius", "cdti-sofia", "gaia"]
COUNTRIES = ["DE", "FR", "PL", "LT", "BG", "ES", "IT", "NL", "AT"]
START = datetime(2025, 1, 6, 9, tzinfo=UTC)


def history(first: int, count: int, rnd: random.Random):
    """Envelopes of participants first..first+count-1 with their exchanges and meeting requests."""
    from shared.events.catalogue import (
        ExchangeApplied, ExchangeApproved, ExchangeCompleted, MeetingAccepted, MeetingRequested,
        ParticipantRegistered, Profile,
    )
    from shared.events.envelope import new_envelope

    activity = str(uuid.UUID(int=1))
    out = []
    for i in range(first, first + count):
        pid = str(uuid.UUID(int=10**9 + i))
        cluster = CLUSTERS[i % len(CLUSTERS)]
        kind = rnd.choice(["sme", "sme", "cluster_staff", "research"])
        at = START + timedelta(minutes=rnd.randrange(730 * 24 * 60))
        out.append(new_envelope(ParticipantRegistered(participant_id=pid, registered_at=at, profile=Profile(
            cluster_id=cluster, kind=kind, name=f"Org {i}", country=rnd.choice(COUNTRIES))), source="/bench", time=at))
        if i % 10 < 3:
            xid, host = str(uuid.UUID(int=2 * 10**9 + i)), CLUSTERS[(i + 1) % len(CLUSTERS)]
            start = at.date() + timedelta(days=30)
            out.append(new_envelope(ExchangeApplied(
                exchange_id=xid, participant_id=pid, participant_kind=kind, sending_cluster_id=cluster,
                host_cluster_id=host, kind="sme_exchange", start_date=start, end_date=start + timedelta(days=6),
                working_days=5), source="/bench", time=at + timedelta(days=1)))
            out.append(new_envelope(ExchangeApproved(
                exchange_id=xid, participant_id=pid, sending_cluster_id=cluster, host_cluster_id=host,
                lump_sum_eur=1500, approved_at=at + timedelta(days=3)), source="/bench", time=at + timedelta(days=3)))
            if i % 10 == 0:
                out.append(new_envelope(ExchangeCompleted(
                    exchange_id=xid, participant_id=pid, sending_cluster_id=cluster, host_cluster_id=host,
                    completed_on=start + timedelta(days=6), working_days=5, meetings_held=2,
                    satisfaction=rnd.randint(3, 5), outcomes=("knowledge_transfer",), lump_sum_eur=1500),
                    source="/bench", time=at + timedelta(days=40)))
        if i % 2 and i > first:
            ids = dict(meeting_id=str(uuid.UUID(int=3 * 10**9 + i)), activity_id=activity, requester_id=pid,
                       target_id=str(uuid.UUID(int=10**9 + i - 1)))
            out.append(new_envelope(MeetingRequested(**ids, expires_at=at + timedelta(days=3)), source="/bench", time=at))
            out.append(new_envelope(MeetingAccepted(**ids), source="/bench", time=at + timedelta(hours=2)))
    return out


async def fill(dsn: str, first: int, count: int, seed: int) -> tuple[int, float]:
    from services.reporting.adapters import projection
    from shared.db import create_pool

    envelopes = history(first, count, random.Random(seed))
    pool = await create_pool(dsn, "reporting", max_size=1)
    try:
        began = time.perf_counter()
        async with pool.acquire() as conn:
            for i in range(0, len(envelopes), 1000):
                async with conn.transaction():
                    await projection.apply_many(conn, envelopes[i:i + 1000])
        return len(envelopes), time.perf_counter() - began
    finally:
        await pool.close()


async def coordinator_key(dsn: str) -> str:
    from shared import auth
    from shared.db import create_pool

    pool = await create_pool(dsn, "reporting", max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            return (await auth.issue_key(conn, "silicon-saxony", "coordinator", "bench", source="/bench"))[1]
    finally:
        await pool.close()


async def set_ready(dsn: str, ready: bool) -> None:
    from shared.db import create_pool

    pool = await create_pool(dsn, "reporting", max_size=1)
    try:
        await pool.execute("UPDATE projection_summary SET cells_ready = $1", ready)
    finally:
        await pool.close()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, key: str, seconds: int, connections: int) -> dict:
    out = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "--latency", "-H", f"Authorization: Bearer {key}", url],
        check=True, capture_output=True, text=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"errors from {url}:\n{out}")
    latency = {q: float(v) * _UNITS[u] for q, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out, re.M)}
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"p50_ms": round(latency["50"], 2), "p99_ms": round(latency["99"], 2), "requests_per_s": round(rate, 1)}


async def query_times(dsn: str, n: int = 300) -> dict:
    """The kept read alone (``projection.read_board``, programme and cluster+period), timed in-process on one
    connection: the database's share of a request, without HTTP, auth or the load generator."""
    from services.reporting.adapters import projection
    from services.reporting.domain.kpis import Scope
    from shared.db import create_pool

    pool = await create_pool(dsn, "reporting", max_size=1)
    out = {}
    try:
        async with pool.acquire() as conn:
            for name, scope in (("all", Scope()), ("cluster+period", Scope(cluster="gaia", start=date(2025, 3, 15),
                                                                         end=date(2026, 2, 10)))):
                times = []
                for _ in range(n):
                    began = time.perf_counter()
                    async with conn.transaction(isolation="repeatable_read", readonly=True):
                        await projection.read_board(conn, scope)
                    times.append((time.perf_counter() - began) * 1000)
                out[name] = {"p50_ms": round(percentile(times, 0.5), 2), "p99_ms": round(percentile(times, 0.99), 2)}
    finally:
        await pool.close()
    return out


def fold_read(url: str, key: str, n: int = 7) -> dict:
    """Sequential reads timed by the client: at 100k participants each one takes seconds, too few for wrk."""
    import httpx

    times = []
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
        client.get(url).raise_for_status()
        for _ in range(n):
            began = time.perf_counter()
            client.get(url).raise_for_status()
            times.append((time.perf_counter() - began) * 1000)
    return {"p50_ms": round(percentile(times, 0.5), 2), "max_ms": round(max(times), 2), "requests": n}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,100000,370000")
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--fold-max", type=int, default=100000, help="time the fold (slow) only up to this size")
    args = p.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with infra() as inf:
        port = free_port()
        env = {"CXC_DATABASE_URL": inf.dsn, "CXC_KAFKA_BOOTSTRAP": inf.bootstrap, "CXC_REPORTING_PORT": str(port),
               "CXC_LOG_LEVEL": "WARNING", "CXC_REPORTING_RATE_LIMIT_REQUESTS": "1000000000",
               **dev_environment(Path(tempfile.mkdtemp(prefix="cxc-bench-")))}
        os.environ.update(env)  # the key-signing key for issuing the coordinator key below
        with process([python(), "-m", "services.reporting"], env, f"http://127.0.0.1:{port}/readyz"):
            key = asyncio.run(coordinator_key(inf.dsn))
            base = f"http://127.0.0.1:{port}/v1/kpis"
            have, events = 0, 0
            for size in sizes:
                n, took = asyncio.run(fill(inf.dsn, have, size - have, seed=size))
                have, events = size, events + n
                row = {"participants": size, "events": events, "fill_events_per_s": round(n / took)}
                for name, url in (("all", base), ("cluster+period", f"{base}?cluster=gaia&from=2025-03-15&to=2026-02-10")):
                    wrk(url, key, 2, args.connections)  # warm-up
                    row[name] = wrk(url, key, args.duration, args.connections)
                row["query"] = asyncio.run(query_times(inf.dsn))
                print(row, flush=True)
                if size > args.fold_max:
                    rows.append(row)
                    continue
                asyncio.run(set_ready(inf.dsn, False))
                try:
                    row["fold"] = fold_read(base, key)
                finally:
                    asyncio.run(set_ready(inf.dsn, True))
                print(row["fold"], flush=True)
                rows.append(row)
    path = save("kpis_read", {"duration_s": args.duration, "connections": args.connections, "rows": rows})
    print(path)


if __name__ == "__main__":
    main()
