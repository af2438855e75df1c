"""``cxc tail`` against the real broker, and our events read by a librdkafka client."""

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest

from shared.events import new_envelope
from shared.events.topics import topic_specs
from shared.messaging.kafka import ensure_topics
from shared.messaging.reader import Filter
from cxc.ops.tail import tail
from tests.ops_helpers import Captured, registration
from tests.support.payloads import PARTICIPANT as BODY, participant_registered
from tests.support.polling import eventually
from tests.support.topics import produce

pytestmark = pytest.mark.integration


async def test_tail_shows_a_freshly_posted_registration_with_its_correlation_id(database_url, kafka_bootstrap,
                                                                             topic_namespace):
    ns = topic_namespace
    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=ns)
    # Older events in one batch: the embedded broker's ListOffsets then reports an end that is too low,
    # and a tail "from now" built on it would show them.
    older = f"older-{uuid.uuid4()}"
    await produce(kafka_bootstrap, [new_envelope(participant_registered(older), source="/test") for _ in range(10)],
                  namespace=ns)
    async with registration(database_url, kafka_bootstrap) as api:
        out, ready = Captured(), asyncio.Event()
        follower = asyncio.create_task(tail(kafka_bootstrap, None, out, keep=Filter(event_type="participant.*"),
                                            limit=1, ready=ready.set, namespace=ns))
        await asyncio.wait_for(ready.wait(), 15)
        r = await api.post("/v1/participants", json=BODY, headers={"X-Request-ID": "tail-req-7"})
        assert r.status_code == 201, r.text
        assert await asyncio.wait_for(follower, 30) == 1
    [line] = out.lines
    assert line["topic"] == "cxc.participants" and line["key"] == r.json()["id"]
    assert line["event"]["type"] == "participant.registered" and line["event"]["correlationid"] == "tail-req-7"
    assert line["headers"]["ce_correlationid"] == "tail-req-7"


async def test_tail_filters_by_cluster_subject_correlation_and_time(kafka_bootstrap, topic_namespace):
    ns = topic_namespace
    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=ns)
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    first = [
        new_envelope(participant_registered(a, cluster="gaia"), source="/test", correlation_id="corr-a"),
        new_envelope(participant_registered(b, cluster="mazovia-ict"), source="/test", correlation_id="corr-b"),
    ]
    await produce(kafka_bootstrap, first, namespace=ns)
    cut = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await produce(kafka_bootstrap, [new_envelope(participant_registered(c, cluster="gaia"), source="/test")],
                  namespace=ns)

    async def shown(**kw):
        out = Captured()
        since = kw.pop("since", None)
        await tail(kafka_bootstrap, ["cxc.participants"], out, keep=Filter(since=since, **kw),
                   beginning=since is None, since=since, follow=False, namespace=ns)
        return [line["key"] for line in out.lines]

    assert sorted(await shown()) == sorted([a, b, c])
    assert sorted(await shown(cluster="gaia")) == sorted([a, c])
    assert await shown(subject=b) == [b]
    assert await shown(correlation_id="corr-a") == [a]
    assert await shown(since=cut) == [c]
    assert await shown(event_type="participant.updated") == []


async def test_tail_from_an_offset_starts_there_in_every_partition(kafka_bootstrap, topic_namespace):
    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=topic_namespace)
    pid = "same-key"  # one key: all in one partition, offsets 0..4
    envs = [new_envelope(participant_registered(pid), source="/test") for _ in range(5)]
    await produce(kafka_bootstrap, envs, namespace=topic_namespace)
    out = Captured()
    await tail(kafka_bootstrap, ["cxc.participants"], out, offset=3, follow=False, namespace=topic_namespace)
    assert [line["event"]["id"] for line in out.lines] == [envs[3].id, envs[4].id]


def test_the_cli_prints_json_lines_that_other_tools_can_pipe(kafka_bootstrap, topic_namespace):
    # The CLI reads the namespace from CXC_TOPIC_NAMESPACE (set by the fixture), as the services do.
    envs = [new_envelope(participant_registered(str(uuid.uuid4())), source="/test") for _ in range(3)]
    asyncio.run(ensure_topics(kafka_bootstrap, topic_specs(), namespace=topic_namespace))
    asyncio.run(produce(kafka_bootstrap, envs, namespace=topic_namespace))
    done = subprocess.run(
        [sys.executable, "-m", "cxc.cli", "tail", "cxc.participants", "--from-beginning", "--no-follow", "--json"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "CXC_KAFKA_BOOTSTRAP": kafka_bootstrap},
    )
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(line)["event"]["id"] for line in done.stdout.splitlines()) == sorted(e.id for e in envs)
    assert "reading cxc.participants from the beginning" in done.stderr


def test_tail_of_a_topic_the_broker_lacks_fails_with_a_clear_message(kafka_bootstrap):
    done = subprocess.run(
        [sys.executable, "-m", "cxc.cli", "tail", "cxc.nope", "--bootstrap", kafka_bootstrap, "--no-follow"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and "topic 'cxc.nope' does not exist" in done.stderr


async def test_a_librdkafka_client_reads_our_events(kafka_bootstrap, topic_namespace):
    confluent_kafka = pytest.importorskip("confluent_kafka")
    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=topic_namespace)
    env = new_envelope(participant_registered(str(uuid.uuid4())), source="/test", correlation_id="rdkafka-1")
    await produce(kafka_bootstrap, [env], namespace=topic_namespace)

    def consume_one():
        consumer = confluent_kafka.Consumer({
            "bootstrap.servers": kafka_bootstrap, "group.id": f"rdkafka-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest", "enable.auto.commit": False, "session.timeout.ms": 6000,
        })
        consumer.subscribe([topic_namespace.topic("cxc.participants")])
        try:
            deadline = 30
            while deadline > 0:
                msg = consumer.poll(1.0)
                deadline -= 1
                if msg is not None and msg.error() is None:
                    return msg.key(), msg.value(), dict(msg.headers() or [])
            return None
        finally:
            consumer.close()

    got = await eventually(lambda: asyncio.to_thread(consume_one), timeout=60)
    key, value, headers = got
    assert key.decode() == env.subject
    assert json.loads(value)["correlationid"] == "rdkafka-1"
    assert headers["ce_type"] == b"participant.registered" and headers["ce_id"] == env.id.encode()
    assert headers["content-type"] == b"application/cloudevents+json; charset=utf-8"
    assert headers["ce_correlationid"] == b"rdkafka-1" and headers["ce_dataschema"] == env.dataschema.encode()
