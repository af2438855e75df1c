"""``cxc lag`` against the real broker, with batching producers."""

import asyncio
import uuid

import pytest
from aiokafka import TopicPartition

from shared.db import create_pool, migrate
from shared.events import new_envelope
from shared.events.topics import topic_specs
from shared.messaging.consumer import ConsumerRunner
from shared.messaging.kafka import ensure_topics
from shared.messaging.lag import lag_rows
from shared.messaging.reader import TopicReader
from tests.support.payloads import participant_registered
from tests.support.polling import eventually
from tests.support.topics import produce

pytestmark = pytest.mark.integration
TOPIC = "cxc.participants"
PRODUCED = 37


def of(rows, group):
    return {r["partition"]: r for r in rows if r["group"] == group and r["topic"] == TOPIC}


async def test_lag_counts_every_batched_message_and_drops_to_zero_once_a_consumer_caught_up(
    kafka_bootstrap, database_url, topic_namespace
):
    ns = topic_namespace
    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=ns)
    envs = [new_envelope(participant_registered(str(uuid.uuid4())), source="/test") for _ in range(PRODUCED)]
    await produce(kafka_bootstrap, envs, linger_ms=100, namespace=ns)

    # A group that has processed the first two events of each partition.
    async with TopicReader(kafka_bootstrap, group_id="half-done", namespace=ns) as streams:
        ends = await streams.end_offsets(await streams.partitions([TOPIC]))
        await streams.commit({tp: min(2, end) for tp, end in ends.items()})
    rows = of(await lag_rows(kafka_bootstrap, namespace=ns), "half-done")
    assert sum(r["end"] for r in rows.values()) == PRODUCED
    assert sum(r["lag"] for r in rows.values()) == PRODUCED - sum(min(2, e) for e in ends.values())
    assert all(r["last_event_time"] for r in rows.values() if r["end"])

    pool = await create_pool(database_url, "lagtest", max_size=4)
    await migrate(pool, "lagtest", None)

    async def applied(conn, envelope):
        pass

    runner = ConsumerRunner("lagtest", pool, {"participant.registered": applied}, topics=[TOPIC],
                            bootstrap=kafka_bootstrap, timeout_s=5, session_timeout_ms=6000, namespace=ns)
    task = asyncio.create_task(runner.run())
    try:
        async def caught_up():
            mine = of(await lag_rows(kafka_bootstrap, ["lagtest"], namespace=ns), "lagtest")
            covered = set(mine) >= {tp.partition for tp, e in ends.items() if e}
            return covered and all(r["lag"] == 0 for r in mine.values()) and mine
        mine = await eventually(caught_up, timeout=40, interval=0.5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.close()
    assert sum(r["committed"] for r in mine.values()) == PRODUCED
    assert "half-done" in {r["group"] for r in await lag_rows(kafka_bootstrap, namespace=ns)}


async def test_last_event_time_is_the_time_of_the_newest_event_in_the_partition(kafka_bootstrap, topic_namespace):
    ns = topic_namespace
    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=ns)
    envs = [new_envelope(participant_registered("one-key"), source="/test") for _ in range(6)]
    await produce(kafka_bootstrap, envs, namespace=ns)
    async with TopicReader(kafka_bootstrap, group_id="timed", namespace=ns) as streams:
        [tp] = [tp for tp, end in (await streams.end_offsets(await streams.partitions([TOPIC]))).items() if end]
        await streams.commit({tp: 1})
    [row] = of(await lag_rows(kafka_bootstrap, ["timed"], namespace=ns), "timed").values()
    assert (row["committed"], row["end"], row["lag"]) == (1, 6, 5)
    assert row["last_event_time"] == envs[-1].time.isoformat()
    assert TopicPartition(TOPIC, row["partition"]) == tp
