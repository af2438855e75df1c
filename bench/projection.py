"""Projection: events/s applied by the reporting consumer (batch mode, real PostgreSQL), vs a raw aiokafka
consumer reading the same topic in the same run. Timing starts when the consumer has its partitions, so the
group join (a broker setting) is not counted.

    python -m bench.projection [--events 20000] [--reps 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench._common import infra, save, summary
from bench.relay import events
from services.reporting.handlers import HANDLERS, apply_batch
from shared.db import create_pool, migrate
from shared.events import encode
from shared.messaging.consumer import ConsumerRunner
from shared.messaging.kafka import ensure_topics

TOPIC = "cxc.participants"


async def produce(bootstrap: str, n: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        for env in events(n, seed=11):
            key, value, headers = encode(env)
            futures.append(await producer.send(TOPIC, value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def raw_rate(bootstrap: str, n: int) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    try:
        tps = [TopicPartition(TOPIC, p) for p in sorted(consumer.partitions_for_topic(TOPIC) or await _parts(consumer))]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        started, seen = time.perf_counter(), 0
        while seen < n:
            for batch in (await consumer.getmany(timeout_ms=500, max_records=1000)).values():
                seen += len(batch)
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def _parts(consumer):
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(TOPIC)


async def projection_rate(dsn: str, bootstrap: str, n: int, rep: int) -> float:
    schema = "reporting"
    database = f"bench_projection_{rep}"
    import asyncpg

    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    pool = await create_pool(dsn.rsplit("/", 1)[0] + f"/{database}", schema, max_size=4)
    try:
        await migrate(pool, schema, "services.reporting.migrations")
        runner = ConsumerRunner(f"bench-projection-{rep}", pool, HANDLERS, topics=[TOPIC], bootstrap=bootstrap,
                                session_timeout_ms=6000, batch=True, batch_handler=apply_batch,
                                max_records=1000)
        task = asyncio.create_task(runner.run())
        while not runner.assigned:
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        while await pool.fetchval("SELECT count(*) FROM processed_events") < n:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return n / elapsed
    finally:
        await pool.close()


async def run(n: int, reps: int) -> dict:
    with infra() as inf:
        await ensure_topics(inf.bootstrap, [(TOPIC, 4), (f"{TOPIC}.dlq", 4)])
        await produce(inf.bootstrap, n)
        await raw_rate(inf.bootstrap, n)  # warm-up
        live, raw = [], []
        for rep in range(reps):
            raw.append(await raw_rate(inf.bootstrap, n))
            live.append(await projection_rate(inf.dsn, inf.bootstrap, n, rep))
            print(f"rep {rep + 1}: projection {live[-1]:8.0f} events/s | raw consumer {raw[-1]:8.0f} events/s", flush=True)
    result = {"events": n, "reps": reps, "projection_eps": summary(live), "raw_eps": summary(raw)}
    result["ratio"] = result["projection_eps"]["median"] / result["raw_eps"]["median"]
    print(f"projection/raw = {result['ratio']:.2f}")
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args()
    save("projection", asyncio.run(run(args.events, args.reps)))


if __name__ == "__main__":
    main()
