"""The ops commands are wired into ``cxc``, parse their options, and compose offers them a Kafka UI."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from cxc.cli import parser
from cxc.ops import parse_time
from cxc.ops.dlq import dlq_names, parse_ref
from shared.messaging.reader import Filter, Message

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("argv", [
    ["tail"], ["tail", "cxc.participants", "--since", "15m", "--type", "participant.*", "--json"],
    ["lag", "--group", "reporting"], ["dlq", "list"], ["dlq", "show", "cxc.meetings.dlq:1:4"],
    ["dlq", "replay", "--all", "--topic", "cxc.meetings"], ["dlq", "purge", "--yes"], ["trace", "req-1"],
    ["topics", "list"], ["topics", "create"], ["topics", "describe", "cxc.keys"],
])
def test_every_ops_command_parses(argv):
    assert callable(parser().parse_args(argv).fn)


def test_tail_takes_one_start_position_only():
    with pytest.raises(SystemExit):
        parser().parse_args(["tail", "--offset", "3", "--from-beginning"])


def test_times_are_iso_or_an_age():
    assert parse_time("2026-05-01T10:00:00") == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert abs(parse_time("2h") - (datetime.now(UTC) - timedelta(hours=2))).total_seconds() < 5
    with pytest.raises(Exception, match="not an ISO time"):
        parse_time("yesterday")


def test_dead_letter_references_and_topics():
    tp, offset = parse_ref("cxc.meetings.dlq:3:17")
    assert (tp.topic, tp.partition, offset) == ("cxc.meetings.dlq", 3, 17)
    with pytest.raises(LookupError):
        parse_ref("cxc.meetings.dlq")
    assert dlq_names(["cxc.meetings", "cxc.keys.dlq"], set()) == ["cxc.meetings.dlq", "cxc.keys.dlq"]


def message(data: dict, **envelope) -> Message:
    import json

    body = {"id": "e1", "type": "exchange.approved", "subject": "x1", "correlation_id": "c1", "data": data, **envelope}
    return Message("cxc.exchanges", 0, 5, 0, b"x1", json.dumps(body).encode(), {})


def test_cluster_filter_matches_any_cluster_an_event_names():
    m = message({"sending_cluster_id": "gaia", "host_cluster_id": "mazovia-ict"})
    assert Filter(cluster="gaia")(m) and Filter(cluster="mazovia-ict")(m) and not Filter(cluster="pole-scs")(m)
    assert Filter(cluster="pole-scs")(message({"profile": {"cluster_id": "pole-scs"}}))
    assert Filter(event_type="exchange.*")(m) and not Filter(event_type="exchange.applied")(m)


def test_correlation_and_causation_come_from_the_spec_names_the_old_names_or_the_headers():
    current = message({}, correlationid="c2", causationid="e0")
    assert (current.correlation_id, current.causation_id) == ("c2", "e0")
    old = message({}, causation_id="e9")  # written before the rename: correlation_id, causation_id
    assert (old.correlation_id, old.causation_id) == ("c1", "e9") and Filter(correlation_id="c1")(old)
    headers_only = Message("cxc.exchanges.dlq", 0, 1, 0, None, b"not json",
                           {"ce_correlationid": b"c3", "ce_causationid": b"e3"})
    assert (headers_only.correlation_id, headers_only.causation_id) == ("c3", "e3")


def test_a_binary_mode_record_shows_its_attributes_from_the_headers_and_its_data_from_the_value():
    import json

    m = Message("cxc.exchanges", 0, 1, 0, b"x1", json.dumps({"sending_cluster_id": "gaia"}).encode(),
                {"ce_specversion": b"1.0", "ce_source": b"/elsewhere", "ce_type": b"exchange.approved",
                 "ce_id": b"e5", "ce_correlationid": b"c5", "content-type": b"application/json"})
    assert m.binary_mode and (m.event_type, m.event_id, m.correlation_id) == ("exchange.approved", "e5", "c5")
    assert m.envelope["data"] == {"sending_cluster_id": "gaia"} and Filter(cluster="gaia")(m)
    structured = message({}, **{"specversion": "1.0"})
    structured.headers = {"ce_type": b"exchange.approved", "content-type": b"application/cloudevents+json"}
    assert not structured.binary_mode and structured.envelope["id"] == "e1"


def test_an_undecodable_record_is_shown_raw_and_never_matches_event_filters():
    m = Message("cxc.exchanges.dlq", 0, 1, 0, None, b"\xff not json", {"cxc_error_class": b"EventDecodeError"})
    assert m.envelope is None and m.event_type is None and m.as_json()["value"].endswith("not json")
    assert Filter()(m) and not Filter(event_type="exchange.*")(m) and not Filter(correlation_id="c1")(m)


def test_compose_ops_profile_starts_a_kafka_ui_on_the_internal_listener():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    [ui] = [s for s in services.values() if "kafka-ui" in str(s.get("image", ""))]
    assert "ops" in ui["profiles"]
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert ui["environment"]["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] in advertised
