"""Relay: outbox rows/s published by the OutboxRelay, vs a raw aiokafka producer sending the same encoded
events to the same broker in the same run.

    python -m bench.relay [--events 20000] [--reps 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from bench._common import infra, save, summary
from shared.db import create_pool, migrate
from shared.events import encode, new_envelope
from shared.events.catalogue import ParticipantRegistered, Profile
from shared.messaging.kafka import ensure_topics
from shared.messaging.outbox import OutboxRelay


def events(n: int, seed: int):
    import random

    rnd = random.Random(seed)
    countries = ["DE", "FR", "PL", "LT", "BG", "ES"]
    return [
        new_envelope(
            ParticipantRegistered(
                participant_id=str(uuid.UUID(int=rnd.getrandbits(128))),
                profile=Profile(cluster_id="silicon-saxony", kind="sme", name=f"Company {i}",
                                country=rnd.choice(countries), sectors=("J62.01",), keywords=("ai", "robotics")),
                registered_at=datetime.now(UTC),
            ),
            source="/bench",
        )
        for i in range(n)
    ]


async def relay_rate(dsn: str, bootstrap: str, envs, schema: str) -> float:
    pool = await create_pool(dsn, schema, max_size=4)
    try:
        await migrate(pool, schema, None)
        await pool.executemany(
            "INSERT INTO outbox (event_id, topic, key, event_type, envelope) VALUES ($1, $2, $3, $4, $5::jsonb)",
            [(e.id, e.topic.name, e.subject, e.type, e.model_dump_json()) for e in envs],
        )
        relay = OutboxRelay(pool, service=schema, bootstrap=bootstrap, poll_interval_s=0.05)
        started = time.perf_counter()
        task = asyncio.create_task(relay.run())
        while await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return len(envs) / elapsed
    finally:
        await pool.close()


async def raw_rate(bootstrap: str, envs) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    try:
        encoded = [encode(e) for e in envs]
        started = time.perf_counter()
        futures = [await producer.send("cxc.participants", v, key=k, headers=h) for k, v, h in encoded]
        await asyncio.gather(*futures)
        return len(envs) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def run(n: int, reps: int) -> dict:
    with infra() as inf:
        await ensure_topics(inf.bootstrap, [("cxc.participants", 4)])
        envs = events(n, seed=7)
        await raw_rate(inf.bootstrap, envs[: n // 5])  # warm-up
        await relay_rate(inf.dsn, inf.bootstrap, events(n // 5, seed=8), "bench_relay_warmup")
        relay, raw = [], []
        for rep in range(reps):
            raw.append(await raw_rate(inf.bootstrap, envs))
            relay.append(await relay_rate(inf.dsn, inf.bootstrap, events(n, seed=100 + rep), f"bench_relay_{rep}"))
            print(f"rep {rep + 1}: relay {relay[-1]:8.0f} events/s | raw producer {raw[-1]:8.0f} events/s", flush=True)
    result = {"events": n, "reps": reps, "relay_eps": summary(relay), "raw_eps": summary(raw)}
    result["ratio"] = result["relay_eps"]["median"] / result["raw_eps"]["median"]
    print(f"relay/raw = {result['ratio']:.2f}")
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args()
    save("relay", asyncio.run(run(args.events, args.reps)))


if __name__ == "__main__":
    main()
