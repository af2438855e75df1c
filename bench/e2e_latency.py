"""End-to-end latency: ingress 201 → visible in reporting's KPIs, under a steady request rate, on the whole
system started by `cxc run` (all four services as processes).

A watcher polls GET /v1/kpis every few milliseconds and records when participants.total reaches each count;
the k-th acknowledged registration is visible once the total reaches k (events of one run are counted in
arrival order, so this is exact for the count and an upper bound per request). Baseline, measured in the
same run: the HTTP round trip of GET /v1/kpis itself, the floor of any "visible" measurement.

    python -m bench.e2e_latency [--rate 200] [--seconds 10] [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench._common import ROOT, percentile, python, save, summary
from bench.ingress import BODY
from cxc.infra.embedded import free_port


def start_stack(home: Path) -> tuple[subprocess.Popen, dict]:
    ports = {s: free_port() for s in ("registration", "matchmaking", "notifications", "reporting")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXC_")}
    env.update({f"CXC_{s.upper()}_PORT": str(p) for s, p in ports.items()})
    env.update(CXC_HOME=str(home), CXC_EMBEDDED_PG_PORT=str(free_port()), CXC_EMBEDDED_BROKER_PORT=str(free_port()),
               CXC_LOG_LEVEL="WARNING", CXC_RELAY_POLL_INTERVAL_S="0.2",
               CXC_REGISTRATION_RATE_LIMIT_REQUESTS="100000000", CXC_REPORTING_RATE_LIMIT_REQUESTS="100000000")
    proc = subprocess.Popen([python(), "-m", "cxc.cli", "run"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=open(home / "run.err", "w"), text=True)
    for line in proc.stdout:
        if line.startswith('{"ready": true'):
            return proc, json.loads((home / "dev.json").read_text())
    raise RuntimeError((home / "run.err").read_text()[-3000:])


def one_run(dev: dict, rate: float, seconds: float) -> dict:
    kpis = f"{dev['urls']['reporting']}/v1/kpis"
    coordinator = {"Authorization": f"Bearer {dev['keys']['coordinator']}"}
    base = httpx.get(kpis, headers=coordinator).json()["participants"]["total"]
    n = int(rate * seconds)
    seen_at: dict[int, float] = {}
    rtts: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        with httpx.Client(headers=coordinator) as http:
            while not stop.is_set():
                t0 = time.time()
                total = http.get(kpis).json()["participants"]["total"] - base
                t1 = time.time()
                rtts.append(t1 - t0)
                for k in range(len(seen_at) + 1, total + 1):
                    seen_at[k] = t1
                if total >= n:
                    return
                time.sleep(0.02)  # the watcher must not become the load it measures

    watcher = threading.Thread(target=watch)
    watcher.start()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(BODY, f)
    out = json.loads(subprocess.run(
        [python(), "-m", "bench._load", f"{dev['urls']['registration']}/v1/participants", "--concurrency", "32",
         "--requests", str(n), "--rate", str(rate), "--body", f.name,
         "--header", f"Authorization:Bearer {dev['keys']['silicon-saxony']}"],
        check=True, capture_output=True, text=True, cwd=ROOT,
    ).stdout)
    watcher.join(timeout=60)
    stop.set()
    acks = sorted(out["acks"])
    latencies = [seen_at[k + 1] - ack for k, ack in enumerate(acks) if k + 1 in seen_at]
    return {
        "sent": n, "acked": len(acks), "visible": len(latencies), "errors": out["statuses"],
        "achieved_rps": len(acks) / out["elapsed"],
        "p50_ms": percentile(latencies, 0.5) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
        "kpi_rtt_p50_ms": percentile(rtts, 0.5) * 1000,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rate", type=float, default=200)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args()
    home = Path(tempfile.mkdtemp(prefix="cxc-bench-e2e-"))
    proc, dev = start_stack(home)
    try:
        one_run(dev, args.rate, 2)  # warm-up
        runs = []
        for rep in range(args.reps):
            runs.append(one_run(dev, args.rate, args.seconds))
            r = runs[-1]
            print(f"rep {rep + 1}: {r['acked']}/{r['sent']} acked (errors: {r['errors'] or 'none'}) at "
                  f"{r['achieved_rps']:.0f} req/s, "
                  f"visible p50 {r['p50_ms']:.0f} ms p99 {r['p99_ms']:.0f} ms (KPI GET rtt {r['kpi_rtt_p50_ms']:.1f} ms)",
                  flush=True)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    save("e2e_latency", {
        "rate": args.rate, "seconds": args.seconds, "reps": args.reps, "runs": runs,
        "p50_ms": summary([r["p50_ms"] for r in runs]), "p99_ms": summary([r["p99_ms"] for r in runs]),
        "achieved_rps": summary([r["achieved_rps"] for r in runs]),
        "kpi_rtt_p50_ms": summary([r["kpi_rtt_p50_ms"] for r in runs]),
    })


if __name__ == "__main__":
    main()
