"""Ingress: registrations/s and latency of POST /v1/participants at concurrency 1, 16, 64, against a bare
FastAPI endpoint doing one asyncpg INSERT on the same machine (the baseline), measured in the same run.

    python -m bench.ingress [--requests 400] [--reps 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
from pathlib import Path

import asyncpg

from bench._common import infra, percentile, process, python, save, summary
from cxc.devstack import dev_environment
from cxc.infra.embedded import free_port

BODY = {
    "kind": "sme", "name": "Bench Robotics GmbH", "country": "DE", "city": "Dresden", "employees": 42,
    "sectors": ["C26.11", "J62.01"], "keywords": ["robotics", "edge ai", "sensors"],
    "offers": [{"type": "technology", "text": "Embedded vision modules for industrial robots"}],
    "requests": [{"type": "partnership", "text": "Distribution partners in France and Spain"}],
    "contact": {"name": "Bench Person", "email": "bench@example.org"},
    "consent": {"data_processing": True, "marketing": False},
}


async def partner_key(dsn: str) -> str:
    from services.registration import seed
    from services.registration.handlers import SOURCE
    from shared import auth
    from shared.db import create_pool, migrate

    pool = await create_pool(dsn, "registration", max_size=2)
    try:
        await migrate(pool, "registration", "services.registration.migrations")
        async with pool.acquire() as conn, conn.transaction():
            await seed.seed_clusters(conn)
            return (await auth.issue_key(conn, "silicon-saxony", "partner", "bench", source=SOURCE))[1]
    finally:
        await pool.close()


def load(url: str, concurrency: int, requests: int, headers: list[str]) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(BODY, f)
    cmd = [python(), "-m", "bench._load", url, "--concurrency", str(concurrency), "--requests", str(requests),
           "--body", f.name]
    for h in headers:
        cmd += ["--header", h]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    if out["errors"]:
        raise RuntimeError(f"{out['errors']} failed requests against {url}")
    return out


def measure(url: str, concurrency: int, requests: int, reps: int, headers: list[str]) -> dict:
    load(url, concurrency, max(requests // 4, 50), headers)  # warm-up
    rates, p50s, p99s = [], [], []
    for _ in range(reps):
        out = load(url, concurrency, requests, headers)
        rates.append(out["ok"] / out["elapsed"])
        p50s.append(percentile(out["latencies"], 0.5) * 1000)
        p99s.append(percentile(out["latencies"], 0.99) * 1000)
    return {"rps": summary(rates), "p50_ms": summary(p50s), "p99_ms": summary(p99s)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args()
    rows = []
    with infra() as inf:
        key = asyncio.run(partner_key(inf.dsn))
        reg_port, base_port = free_port(), free_port()
        env = {"CXC_DATABASE_URL": inf.dsn, "CXC_KAFKA_BOOTSTRAP": inf.bootstrap, "CXC_REGISTRATION_PORT": str(reg_port),
               "CXC_LOG_LEVEL": "WARNING", **dev_environment(Path(tempfile.mkdtemp(prefix="cxc-bench-"))),
               # The per-key rate limit stays in the path (its check is measured) but must not cap the load.
               "CXC_REGISTRATION_RATE_LIMIT_REQUESTS": "100000000"}
        with process([python(), "-m", "services.registration"], env, f"http://127.0.0.1:{reg_port}/readyz"), \
             process([python(), "-m", "bench._baseline_app"], {"CXC_DATABASE_URL": inf.dsn, "PORT": str(base_port)},
                     f"http://127.0.0.1:{base_port}/readyz"):
            for c in (1, 16, 64):
                ours = measure(f"http://127.0.0.1:{reg_port}/v1/participants", c, args.requests, args.reps,
                               [f"Authorization:Bearer {key}"])
                base = measure(f"http://127.0.0.1:{base_port}/insert", c, args.requests, args.reps, [])
                ratio = ours["rps"]["median"] / base["rps"]["median"]
                rows.append({"concurrency": c, "ingress": ours, "baseline": base, "ratio": ratio})
                print(f"c={c:3}: ingress {ours['rps']['median']:7.1f} req/s (p50 {ours['p50_ms']['median']:.1f} ms, "
                      f"p99 {ours['p99_ms']['median']:.1f} ms) | baseline {base['rps']['median']:7.1f} req/s | "
                      f"ratio {ratio:.2f}", flush=True)
        asyncio.run(_count(inf.dsn))
    save("ingress", {"requests_per_rep": args.requests, "reps": args.reps, "rows": rows})


async def _count(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        n = await conn.fetchval("SELECT count(*) FROM registration.outbox")
        print(f"{n} events in the registration outbox (one per accepted registration)")
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
