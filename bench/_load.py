"""A load generator in its own process: POSTs a JSON body, prints latencies as JSON on stdout.

    python -m bench._load URL --concurrency 16 --requests 500 [--rate 200] [--header K:V] --body FILE
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

import httpx


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--requests", type=int, default=100)
    p.add_argument("--rate", type=float, default=0.0, help="requests per second (0: as fast as possible)")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--body", required=True)
    args = p.parse_args()
    body = json.loads(open(args.body).read())
    headers = dict(h.split(":", 1) for h in args.header)
    latencies: list[float] = []
    acks: list[float] = []
    errors = 0
    statuses: dict[int | str, int] = {}
    counter = iter(range(args.requests))
    started = time.perf_counter()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in counter:
            if args.rate:
                delay = started + i / args.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            t0 = time.perf_counter()
            try:
                r = await client.post(args.url, json=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
            except httpx.HTTPError as exc:  # counted and reported, not fatal: the run's numbers say how many
                errors += 1
                statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                continue
            t1 = time.perf_counter()
            if r.status_code in (200, 201):
                latencies.append(t1 - t0)
                acks.append(time.time())
            else:
                errors += 1
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - started
    print(json.dumps({"elapsed": elapsed, "ok": len(latencies), "errors": errors, "statuses": statuses, "latencies": latencies, "acks": acks}))


if __name__ == "__main__":
    asyncio.run(main())
