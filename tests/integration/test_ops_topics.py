"""``cxc topics`` against the real broker."""

import os
import subprocess
import sys
import uuid

import pytest

from shared.events import new_envelope
from shared.events.topics import TOPICS, topic_specs
from shared.messaging.kafka import ensure_topics
from cxc.ops.topics import describe_rows, human_ms
from tests.support.payloads import participant_registered
from tests.support.topics import produce

pytestmark = pytest.mark.integration


async def test_describe_shows_partitions_messages_and_retention_of_every_registry_topic(kafka_bootstrap,
                                                                                       topic_namespace):
    ns = topic_namespace
    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=ns)
    await produce(kafka_bootstrap, [new_envelope(participant_registered(str(uuid.uuid4())), source="/t")
                                    for _ in range(9)], namespace=ns)
    rows = {r["topic"]: r for r in await describe_rows(kafka_bootstrap, namespace=ns)}
    assert set(rows) == {n for t in TOPICS.values() for n in (t.name, t.dlq)}
    participants = rows["cxc.participants"]
    assert (participants["partitions"], participants["messages"], participants["state"]) == (4, 9, "ok")
    assert sum(participants["per_partition"].values()) == 9
    assert rows["cxc.keys"]["partitions"] == 1 and rows["cxc.keys.dlq"]["messages"] == 0
    assert participants["retention"]  # as reported, or "broker default"


async def test_describe_flags_a_missing_topic_and_a_partition_count_that_differs(kafka_bootstrap, topic_namespace):
    ns = topic_namespace
    await ensure_topics(kafka_bootstrap, [("cxc.meetings", 2)], namespace=ns)
    rows = {r["topic"]: r for r in await describe_rows(kafka_bootstrap, ["cxc.meetings", "cxc.matches"], namespace=ns)}
    assert rows["cxc.meetings"]["state"] == "partitions differ from registry"
    assert rows["cxc.matches"]["state"] == "missing"


def test_topics_create_then_describe_through_the_cli(kafka_bootstrap, topic_namespace):
    # The CLI reads the namespace from CXC_TOPIC_NAMESPACE (set by the fixture), as the services do.
    env = {**os.environ, "CXC_KAFKA_BOOTSTRAP": kafka_bootstrap}
    cli = [sys.executable, "-m", "cxc.cli", "topics"]
    created = subprocess.run([*cli, "create"], capture_output=True, text=True, timeout=60, env=env)
    assert created.returncode == 0 and f"created {len(topic_specs())} topics" in created.stdout
    described = subprocess.run([*cli, "describe", "cxc.keys"], capture_output=True, text=True, timeout=60, env=env)
    assert described.returncode == 0, described.stderr
    assert "cxc.keys" in described.stdout and "ok" in described.stdout


def test_retention_is_shown_in_readable_units():
    assert [human_ms(v) for v in (None, "-1", "604800000", "5400000", "1500")] == [
        "broker default", "forever", "7d", "90m", "1500ms"]
