"""Ingress: registrations/s and latency of POST /v1/participants on the whole system as users run it
(`cxc run`: all four services, embedded PostgreSQL and broker), against a bare FastAPI endpoint doing one
asyncpg INSERT into the same PostgreSQL (the baseline), measured in the same run.

The load comes from wrk (compiled, `make bench` installs it when missing), so the client is not what is
measured: a Python load generator on these 2 cores capped the baseline at ~210 req/s. Each request carries a
unique Idempotency-Key, so every one is a new registration with its idempotency row and outbox event.

    python -m bench.ingress [--seconds 10] [--reps 3] [--concurrency 16,64]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import asyncpg

from bench._common import ROOT, process, python, save, summary
from cxc.infra.embedded import free_port

BODY = {
    "kind": "sme", "name": "Bench Robotics GmbH", "country": "DE", "city": "Dresden", "employees": 42,
    "sectors": ["C26.11", "J62.01"], "keywords": ["robotics", "edge ai", "sensors"],
    "offers": [{"type": "technology", "text": "Embedded vision modules for industrial robots"}],
    "requests": [{"type": "partnership", "text": "Distribution partners in France and Spain"}],
    "contact": {"name": "Bench Person", "email": "bench@example.org"},
    "consent": {"data_processing": True, "marketing": False},
}
SCRIPT = Path(__file__).with_name("_wrk_post.lua")


def wrk(url: str, concurrency: int, seconds: float, authorization: str | None, body_file: str) -> dict:
    exe = shutil.which("wrk")
    if exe is None:
        raise SystemExit("wrk is not installed: `make bench` installs it (apt-get install wrk)")
    env = {**os.environ, "BODY_FILE": body_file, "AUTHORIZATION": authorization or ""}
    out = subprocess.run([exe, "-t2", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(SCRIPT), url],
                         env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    out = out.stdout
    result = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    ok = sum(n for status, n in result["statuses"].items() if status in ("200", "201"))
    failed = result["requests"] - ok
    if failed or result["socket_errors"]:
        raise RuntimeError(f"{failed} failed requests, {result['socket_errors']} socket errors against {url}: {result}")
    return {"rps": ok / result["duration_s"], "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"]}


def measure(url: str, concurrency: int, seconds: float, reps: int, authorization: str | None, body_file: str) -> dict:
    wrk(url, concurrency, 2, authorization, body_file)  # warm-up: pools filled, code paths compiled
    runs = [wrk(url, concurrency, seconds, authorization, body_file) for _ in range(reps)]
    return {k: summary([r[k] for r in runs]) for k in ("rps", "p50_ms", "p99_ms")}


def main() -> None:
    from bench.e2e_latency import start_stack  # that module reuses BODY from here

    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--concurrency", default="16,64")
    args = p.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    rows = []
    home = Path(tempfile.mkdtemp(prefix="cxc-bench-ingress-"))
    body_file = str(home / "body.json")
    Path(body_file).write_text(json.dumps(BODY))
    stack, dev = start_stack(home)
    try:
        base_port = free_port()
        ingress_url = f"{dev['urls']['registration']}/v1/participants"
        authorization = f"Bearer {dev['keys']['silicon-saxony']}"
        with process([python(), "-m", "bench._baseline_app"],
                     {"CXC_DATABASE_URL": dev["database_url"], "PORT": str(base_port)},
                     f"http://127.0.0.1:{base_port}/readyz"):
            for c in levels:
                ours = measure(ingress_url, c, args.seconds, args.reps, authorization, body_file)
                base = measure(f"http://127.0.0.1:{base_port}/insert", c, args.seconds, args.reps, None, body_file)
                ratio = ours["rps"]["median"] / base["rps"]["median"]
                rows.append({"concurrency": c, "ingress": ours, "baseline": base, "ratio": ratio})
                print(f"c={c:3}: ingress {ours['rps']['median']:7.1f} req/s (p50 {ours['p50_ms']['median']:.1f} ms, "
                      f"p99 {ours['p99_ms']['median']:.1f} ms) | baseline {base['rps']['median']:7.1f} req/s "
                      f"(p99 {base['p99_ms']['median']:.1f} ms) | ratio {ratio:.2f}", flush=True)
        import asyncio

        print(f"{asyncio.run(_count(dev['database_url']))} events in the registration outbox", flush=True)
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            stack.wait(30)
        except subprocess.TimeoutExpired:
            stack.kill()
    save("ingress", {"seconds": args.seconds, "reps": args.reps, "client": "wrk -t2", "stack": "cxc run (4 services)",
                     "rows": rows})


async def _count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM registration.outbox")
    finally:
        await conn.close()


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
