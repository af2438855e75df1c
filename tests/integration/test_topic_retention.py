"""Topics keep their whole log: `cxc topics create` (what compose's topic-init job runs) sets the registry's
retention, which a rebuild from topics relies on."""

import os
import subprocess
import sys

import pytest

from shared.events.topics import TOPICS, topic_configs
from cxc.ops.topics import describe_rows

pytestmark = pytest.mark.integration


def test_registry_keeps_every_topic_and_dead_letter_topic_forever():
    configs = topic_configs()
    assert set(configs) == {n for t in TOPICS.values() for n in (t.name, t.dlq)}
    for name, config in configs.items():
        assert config["retention.ms"] == "-1" and config["retention.bytes"] == "-1", name
        assert config["cleanup.policy"] == "delete", f"{name}: compaction would drop all but the last event per key"


async def test_cxc_topics_create_sets_retention_forever_on_the_broker(embedded_broker):
    # A private broker: the topics must be created by this command, not found from an earlier test.
    env = {**os.environ, "CXC_KAFKA_BOOTSTRAP": embedded_broker.bootstrap}
    done = subprocess.run([sys.executable, "-m", "cxc.cli", "topics", "create"], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    rows = await describe_rows(embedded_broker.bootstrap)
    assert {r["topic"]: r["retention"] for r in rows} == {name: "forever" for name in topic_configs()}
