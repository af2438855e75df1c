"""The consumer runner against real PostgreSQL and a real Kafka-API broker."""

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.events import encode, new_envelope
from shared.messaging.consumer import ConsumerRunner
from shared.messaging.kafka import ensure_topics
from tests.support.topics import read_all
from tests.support.payloads import participant_registered
from tests.support.polling import eventually
from tests.support.database import kernel_pool

pytestmark = pytest.mark.integration
TOPIC = "cxc.participants"


@pytest.fixture
async def pool(database_url):
    # Deliberately no unique constraint: applying an event twice would show as two rows.
    async with kernel_pool(database_url, "consumertest",
                           "CREATE TABLE effects (event_id uuid NOT NULL, subject text NOT NULL)") as pool:
        yield pool


async def record_effect(conn, envelope):
    if envelope.subject.startswith("poison"):
        raise ValueError(f"cannot apply {envelope.subject}")
    await conn.execute("INSERT INTO effects VALUES ($1, $2)", envelope.id, envelope.subject)


@pytest.fixture
def topic(topic_namespace):
    """TOPIC as the broker knows it (in the test's namespace when the broker is shared)."""
    return topic_namespace.topic(TOPIC)


@pytest.fixture
async def consume(pool, kafka_bootstrap, topic_namespace):
    await ensure_topics(kafka_bootstrap, [(TOPIC, 4), (f"{TOPIC}.dlq", 4)], namespace=topic_namespace)
    tasks = []
    group = f"test-{uuid.uuid4().hex[:8]}"

    def start(**kw):
        runner = ConsumerRunner(
            group, pool, {"participant.registered": record_effect}, topics=[TOPIC], bootstrap=kafka_bootstrap,
            timeout_s=5, max_retries=2, retry_base_s=0.01, session_timeout_ms=6000, namespace=topic_namespace, **kw,
        )
        tasks.append(asyncio.create_task(runner.run()))
        return runner

    yield start
    for task in tasks:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def producer(kafka_bootstrap, topic):
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    producer.topic = topic
    await producer.start()
    yield producer
    await producer.stop()


def subject_of(value: bytes) -> bytes:
    try:
        return json.loads(value)["subject"].encode()
    except (ValueError, KeyError):
        return b"undecodable"


async def send(producer, value: bytes, key: bytes | None = None):
    """Produce like our relay does: keyed by the event's subject (aggregate id)."""
    await (await producer.send(producer.topic, value, key=key if key is not None else subject_of(value)))


def effects_for(pool, subject):
    async def rows():
        return await pool.fetch("SELECT * FROM effects WHERE subject = $1", subject)

    return rows


async def test_a_consumer_given_the_same_event_twice_applies_it_once(pool, consume, producer):
    pid = f"dup-{uuid.uuid4()}"
    env = new_envelope(participant_registered(pid), source="/test")
    key, value, _ = encode(env)
    await send(producer, value)
    await send(producer, value)  # a redelivery, e.g. the relay retrying after a lost ack
    marker = f"after-{uuid.uuid4()}"
    await send(producer, encode(new_envelope(participant_registered(marker), source="/test"))[1])
    consume()
    await eventually(effects_for(pool, marker), timeout=30)
    assert len(await effects_for(pool, pid)()) == 1


async def test_undecodable_message_lands_in_dlq_and_the_next_good_one_is_processed(
    pool, consume, producer, kafka_bootstrap, topic
):
    await send(producer, b"\x00\x01 definitely not an event", b"same-key")
    good = f"good-{uuid.uuid4()}"
    await send(producer, encode(new_envelope(participant_registered(good), source="/test"))[1])
    consume()
    await eventually(effects_for(pool, good), timeout=30)
    [dead] = await read_all(kafka_bootstrap, f"{topic}.dlq", expect=1)
    headers = dict(dead.headers)
    assert dead.value == b"\x00\x01 definitely not an event"
    assert headers["cxc_error_stage"] == b"decode"
    assert headers["cxc_original_topic"] == TOPIC.encode()
    assert b"not JSON" in headers["cxc_error_message"]


async def test_handler_failing_past_its_retries_is_dead_lettered_and_consumption_goes_on(
    pool, consume, producer, kafka_bootstrap, topic
):
    poison = f"poison-{uuid.uuid4()}"
    good = f"good-{uuid.uuid4()}"
    await send(producer, encode(new_envelope(participant_registered(poison), source="/test"))[1])
    await send(producer, encode(new_envelope(participant_registered(good), source="/test"))[1])
    consume()
    await eventually(effects_for(pool, good), timeout=30)
    [dead] = await read_all(kafka_bootstrap, f"{topic}.dlq", expect=1)
    assert dict(dead.headers)["cxc_error_class"] == b"ValueError"
    assert await pool.fetchval("SELECT count(*) FROM processed_events WHERE event_type = 'participant.registered'") == 1


async def test_offsets_are_committed_after_processing(pool, consume, producer, kafka_bootstrap, topic,
                                                    topic_namespace):
    subject = f"commit-{uuid.uuid4()}"
    await send(producer, encode(new_envelope(participant_registered(subject), source="/test"))[1])
    runner = consume()
    await eventually(effects_for(pool, subject), timeout=30)
    [row] = await pool.fetch("SELECT kafka_partition, kafka_offset FROM processed_events")
    tp = TopicPartition(topic, row["kafka_partition"])
    probe = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=topic_namespace.group(runner.name),
                             enable_auto_commit=False)
    await probe.start()
    try:
        committed = await eventually(lambda: probe.committed(tp), timeout=10)
        assert committed == row["kafka_offset"] + 1
    finally:
        await probe.stop()


async def test_batch_mode_applies_duplicates_once_and_isolates_a_poison_message(
    pool, consume, producer, kafka_bootstrap, topic
):
    good = [f"batch-{i}-{uuid.uuid4()}" for i in range(5)]
    envs = [new_envelope(participant_registered(s), source="/test") for s in good]
    poison = new_envelope(participant_registered(f"poison-{uuid.uuid4()}"), source="/test")
    for env in envs[:3]:
        await send(producer, encode(env)[1])
    await send(producer, encode(envs[0])[1])  # duplicate (a redelivery)
    await send(producer, encode(poison)[1])
    for env in envs[3:]:
        await send(producer, encode(env)[1])
    consume(batch=True)

    async def all_applied():
        return await pool.fetchval("SELECT count(DISTINCT subject) FROM effects WHERE subject = ANY($1)", good) == 5

    await eventually(all_applied, timeout=30)
    for subject in good:
        assert len(await effects_for(pool, subject)()) == 1, subject
    [dead] = await read_all(kafka_bootstrap, f"{topic}.dlq", expect=1)
    assert dead.value == encode(poison)[1]
    assert dict(dead.headers)["cxc_error_stage"] == b"handler"


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "batch"])
async def test_an_old_format_event_and_a_binary_mode_one_from_the_sdk_are_applied(pool, consume, producer, batch):
    """What the previous version wrote (snake_case extension attributes, no dataschema, its headers) is still
    applied; so is a CloudEvent another producer sends in the Kafka binding's binary content mode."""
    from cloudevents.core.bindings import kafka as ce_kafka
    from cloudevents.core.formats.json import JSONFormat
    from cloudevents.core.v1.event import CloudEvent

    old = new_envelope(participant_registered(f"old-{uuid.uuid4()}"), source="/test", correlation_id="c-old")
    body = json.loads(old.to_json())
    del body["dataschema"]
    body["schema_version"], body["correlation_id"] = body.pop("schemaversion"), body.pop("correlationid")
    body["causation_id"] = None
    old_headers = [("ce_specversion", b"1.0"), ("ce_id", old.id.encode()), ("ce_type", old.type.encode()),
                   ("ce_source", b"/test"), ("ce_time", old.time.isoformat().encode()),
                   ("ce_subject", old.subject.encode()), ("ce_correlationid", b"c-old"),
                   ("content-type", b"application/cloudevents+json; charset=utf-8")]
    await (await producer.send(producer.topic, json.dumps(body).encode(), key=old.subject.encode(),
                               headers=old_headers))

    theirs = new_envelope(participant_registered(f"sdk-{uuid.uuid4()}"), source="/elsewhere")
    attributes = {**{k: v for k, v in json.loads(theirs.to_json()).items() if k != "data"}, "time": theirs.time}
    message = ce_kafka.to_binary(CloudEvent(attributes, theirs.data), JSONFormat(),
                                 key_mapper=lambda event: event.get_subject())
    await (await producer.send(producer.topic, message.value, key=message.key.encode(),
                               headers=list(message.headers.items())))
    consume(batch=batch)
    [applied_old] = await eventually(effects_for(pool, old.subject), timeout=30)
    [applied_theirs] = await eventually(effects_for(pool, theirs.subject), timeout=30)
    assert (str(applied_old["event_id"]), str(applied_theirs["event_id"])) == (old.id, theirs.id)
