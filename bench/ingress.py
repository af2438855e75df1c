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


def _spread(s: dict, fmt: str = "{:.0f}") -> str:
    return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}–{fmt.format(s['max'])})"


def _table(rows: list[dict]) -> list[str]:
    out = ["| connections | ingress req/s | p50 ms | p99 ms | baseline req/s | baseline p99 ms | ratio | baseline ÷ ingress |",
           "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        i, b = row["ingress"], row["baseline"]
        out.append(f"| {row['concurrency']} | {_spread(i['rps'])} | {_spread(i['p50_ms'], '{:.1f}')} | "
                   f"{_spread(i['p99_ms'], '{:.1f}')} | {_spread(b['rps'])} | {_spread(b['p99_ms'], '{:.1f}')} | "
                   f"**{row['ratio']:.2f}** | {1 / row['ratio']:.1f}× |")
    return out


def _client_check(rows: list[dict]) -> str:
    """Whether the client can have capped the baseline: only a baseline ≥ 3× the system shows it did not."""
    said = []
    for row in rows:
        times = 1 / row["ratio"]
        if row["ratio"] < 1 and times >= 3:
            said.append(f"at {row['concurrency']} connections the baseline ran {times:.1f}× the system's rate, so "
                        "the client was not what limited the system")
        else:
            said.append(f"at {row['concurrency']} connections the baseline ran only {times:.1f}× the system's rate: "
                        "the client (or the shared cores) may have capped the baseline, and the ratio may be overstated")
    return "; ".join(said) + "."


def section(r: dict, before: dict | None = None) -> list[str]:
    """The ingress section of docs/benchmarks.md (bench/run_all.py) from this bench's result."""
    out = [
        "## Ingress: `POST /v1/participants`",
        "",
        f"{r.get('client', 'wrk -t2')}, {r['seconds']:g} s per repetition, {r['reps']} repetitions after a 2 s warm-up, "
        f"at {r['at']}. The system runs as users run it: `cxc run`, all four services, embedded PostgreSQL and",
        "broker; each request is a new SME registration with its own Idempotency-Key (idempotency row, participant,",
        "contact, data key, outbox event, in one transaction, after auth and the per-key budget). Baseline: a bare",
        "FastAPI endpoint doing one asyncpg INSERT of the body into the same PostgreSQL, measured in the same run",
        "right after the system at each concurrency. Goal: ratio ≥ 0.7 at 16 and 64 connections, p99 < 100 ms at 16.",
        "",
        *_table(r["rows"]),
        "",
        "Client check: " + _client_check(r["rows"]),
        "",
        "Goal: " + "; ".join(
            f"{row['concurrency']} connections ratio {row['ratio']:.2f} "
            + ("met" if row["ratio"] >= 0.7 else f"missed by {0.7 - row['ratio']:.2f}")
            + (f", p99 {row['ingress']['p99_ms']['median']:.0f} ms "
               + ("met" if row["ingress"]["p99_ms"]["median"] < 100 else "(goal < 100 ms) missed")
               if row["concurrency"] == 16 else "")
            for row in r["rows"]) + ".",
        "",
    ]
    if before:
        out += [
            f"Before the issue 15 ingress work ({before.get('label', 'previous code')}, same bench, at {before['at']}):",
            "",
            *_table(before["rows"]),
            "",
        ]
    out += [
        "What a registration costs (counted with a query logger on one request; profile: py-spy on the",
        "registration process under wrk at 16–64 connections). Before: three pool acquisitions (API-key lookup,",
        "budget upsert, the write), each released with asyncpg's reset query, 15 round trips. Now: the key is",
        "answered from a per-process cache (5 s TTL, `auth_cache_ttl_s`), the gate takes one connection, spends",
        "the budget in an autocommitted statement on it (an UNLOGGED row: no WAL flush, and its lock is not held",
        "across the write) and lends it to the route, which runs BEGIN, idempotency claim, cluster check,",
        "participant, contact, data key insert and read, outbox row, stored response, COMMIT, then one reset: 12",
        "round trips on one connection. Also changed: Starlette's BaseHTTPMiddleware (a task and a response",
        "queue per request) replaced by a plain ASGI middleware, and uvloop for the event loop (the h11 parser",
        "stays: httptools cannot bound a request head). Profile after (py-spy, 100 Hz, 6 s at 16 connections,",
        "~210 req/s): about 47% of the registration process's samples are asyncpg sending statements (with uvloop",
        "the loopback socket write, whose kernel work runs in the sender, is attributed to that line: 34% in",
        "prepared statements, 13% in BEGIN/COMMIT/reset), the rest is the ASGI stack, validation and the",
        "handler; JSON encoding and decoding together about 3%, which is why the responses keep the standard",
        "JSON encoder (a faster encoder would save at most that). The remaining gap to the baseline is",
        "round trips: every request still makes 12 on one connection where the baseline makes 2 (its INSERT",
        "and the pool's reset), with four services, PostgreSQL, the broker and wrk sharing 2 cores.",
        "",
    ]
    return out


async def _count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM registration.outbox")
    finally:
        await conn.close()


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
