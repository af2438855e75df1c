"""Shared helpers of the benchmark scripts: infrastructure, processes, statistics, results."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from cxc.infra.embedded import EmbeddedBroker, EmbeddedPostgres, free_port

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict:
    mem_kb = 0
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": model,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def summary(values: list[float]) -> dict:
    """Median and spread (min, max) of repeated measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def save(name: str, result: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    result = {"bench": name, "machine": machine(), "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **result}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2))
    return path


@dataclass
class Infra:
    dsn: str
    bootstrap: str
    broker: EmbeddedBroker | None


@contextlib.contextmanager
def infra() -> Iterator[Infra]:
    """CXC_DATABASE_URL / CXC_KAFKA_BOOTSTRAP if set, else embedded PostgreSQL (durable defaults) and Tansu."""
    pg = broker = None
    dsn = os.environ.get("CXC_DATABASE_URL")
    bootstrap = os.environ.get("CXC_KAFKA_BOOTSTRAP")
    try:
        if not dsn:
            pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="cxc-bench-pg-")) / "data", free_port())
            dsn = pg.start()
        if not bootstrap:
            broker = EmbeddedBroker(free_port())
            bootstrap = broker.start()
        yield Infra(dsn, bootstrap, broker)
    finally:
        if broker:
            broker.stop()
        if pg:
            pg.stop()


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str], ready_url: str, timeout: float = 60) -> Iterator[subprocess.Popen]:
    log = tempfile.NamedTemporaryFile(prefix="cxc-bench-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{args} exited: {Path(log.name).read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{args} not ready: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def python() -> str:
    return sys.executable
