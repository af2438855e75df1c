"""Topic namespaces: names on the broker, what is in and out of a namespace, and how the setting is read."""

import subprocess
import sys

import pytest
from aiokafka import TopicPartition

from services.reporting.settings import ReportingSettings
from shared.messaging.namespace import NO_NAMESPACE, Namespace


def test_no_namespace_leaves_every_name_as_it_is():
    assert not NO_NAMESPACE
    assert NO_NAMESPACE.topic("cxc.participants") == "cxc.participants"
    assert NO_NAMESPACE.group("matchmaking-profiles") == "matchmaking-profiles"
    assert NO_NAMESPACE.locals(["cxc.keys", "acme.cxc.keys"]) == {"cxc.keys", "acme.cxc.keys"}


def test_a_namespace_prefixes_topics_and_groups_and_sees_only_its_own_names():
    acme = Namespace("acme")
    assert acme.topic("cxc.participants.dlq") == "acme.cxc.participants.dlq"
    assert acme.group("reporting-kpis") == "acme.reporting-kpis"
    assert acme.local("acme.cxc.meetings") == "cxc.meetings"
    assert acme.local("cxc.meetings") is None
    assert acme.local("acmecorp.cxc.meetings") is None, "a namespace is a whole dot-separated part"
    assert acme.local("acme.") is None
    assert acme.locals(["acme.cxc.keys", "cxc.keys", "beta.cxc.keys", "__consumer_offsets"]) == {"cxc.keys"}
    assert acme.tp(TopicPartition("cxc.keys", 3)) == TopicPartition("acme.cxc.keys", 3)
    assert acme.local_tp(TopicPartition("acme.cxc.keys", 3)) == TopicPartition("cxc.keys", 3)
    with pytest.raises(ValueError, match="outside"):
        acme.local_tp(TopicPartition("cxc.keys", 0))


@pytest.mark.parametrize("bad", ["a..b", ".a", "a.", "a b", "a/b", "ä", "x" * 101])
def test_a_namespace_must_be_a_valid_topic_name_prefix(bad):
    with pytest.raises(ValueError, match="not a namespace"):
        Namespace(bad)


def test_services_read_the_namespace_from_cxc_topic_namespace(monkeypatch):
    monkeypatch.setenv("CXC_TOPIC_NAMESPACE", "programme-b.staging")
    assert ReportingSettings().namespace.topic("cxc.exchanges") == "programme-b.staging.cxc.exchanges"
    monkeypatch.delenv("CXC_TOPIC_NAMESPACE")
    assert ReportingSettings().namespace == NO_NAMESPACE, "production topic names do not change by default"


def test_a_service_refuses_an_invalid_namespace(monkeypatch):
    monkeypatch.setenv("CXC_TOPIC_NAMESPACE", "two..dots")
    with pytest.raises(ValueError, match="CXC_TOPIC_NAMESPACE"):
        ReportingSettings()


def test_the_ops_commands_refuse_an_invalid_namespace_with_a_message():
    done = subprocess.run([sys.executable, "-m", "cxc.cli", "lag", "--namespace", "a b", "--bootstrap", "x:1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "is not a namespace" in done.stderr and "Traceback" not in done.stderr
