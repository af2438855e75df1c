"""Our events against the official CloudEvents Python SDK (``cloudevents``): the SDK reads what we write on
Kafka and over HTTP, and we read what the SDK writes, in both content modes."""

import json
from datetime import UTC, datetime

from cloudevents.core.bindings import http as ce_http
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from shared.events import decode, encode, new_envelope
from shared.events.catalogue import ExchangeApproved
from shared.events.envelope import CONTENT_TYPE, upgrade_json


def approved():
    return new_envelope(
        ExchangeApproved(exchange_id="x-1", participant_id="p-1", sending_cluster_id="mazovia-ict",
                         host_cluster_id="gaia", lump_sum_eur=1200, approved_at=datetime(2025, 5, 6, 7, 8, tzinfo=UTC)),
        source="/cxc/registration", correlation_id="req-42", causation_id="e-41",
        time=datetime(2025, 5, 6, 7, 8, 9, 123000, tzinfo=UTC),
    )


def kafka_message(key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> ce_kafka.KafkaMessage:
    return ce_kafka.KafkaMessage(headers=dict(headers), key=key, value=value)


def expected_attributes(env) -> dict:
    return {
        "specversion": "1.0", "id": env.id, "source": "/cxc/registration", "type": "exchange.approved",
        "time": env.time, "subject": "x-1", "datacontenttype": "application/json",
        "dataschema": "urn:cxc:event:exchange.approved:v1", "schemaversion": 1, "correlationid": "req-42",
        "causationid": "e-41",
    }


def test_the_sdk_reads_our_kafka_message_in_structured_mode():
    env = approved()
    message = kafka_message(*encode(env))
    assert message.headers["content-type"] == CONTENT_TYPE.encode()
    event = ce_kafka.from_structured(message, JSONFormat())
    assert isinstance(event, CloudEvent)  # the SDK validated it: required attributes, extension names a-z0-9
    attributes = event.get_attributes()
    assert attributes.pop("partitionkey") == "x-1"  # the SDK maps the Kafka key to the partitioning extension
    assert attributes == expected_attributes(env)
    assert event.get_data() == env.data


def test_our_ce_headers_say_what_the_body_says_as_the_sdk_reads_them():
    """Read as binary mode, the SDK takes every attribute from our ce_ headers: the same as from the body."""
    message = kafka_message(*encode(approved()))
    from_body = ce_kafka.from_structured(message, JSONFormat()).get_attributes()
    from_headers = ce_kafka.from_binary(message, JSONFormat()).get_attributes()
    from_headers["schemaversion"] = int(from_headers["schemaversion"])  # a header value is text
    for attributes in (from_body, from_headers):
        del attributes["datacontenttype"]  # structured mode: content-type names the event format instead
    assert from_headers == from_body


def sdk_event(env, *, without: tuple[str, ...] = ()) -> CloudEvent:
    """``env`` built by the SDK from its attributes and data."""
    return CloudEvent({k: v for k, v in expected_attributes(env).items() if k not in without}, env.data)


def test_we_read_the_sdks_kafka_messages_in_both_modes():
    env = approved()
    by_subject = lambda event: event.get_subject()  # noqa: E731 (the key is the aggregate id, as ours)
    structured = ce_kafka.to_structured(sdk_event(env), JSONFormat(), key_mapper=by_subject)
    assert decode(structured.value, structured.headers) == env
    binary = ce_kafka.to_binary(sdk_event(env), JSONFormat(), key_mapper=by_subject)
    assert "content-type" in binary.headers and binary.value == json.dumps(env.data).encode()
    assert decode(binary.value, binary.headers) == env
    assert structured.key == binary.key == "x-1"


def test_we_read_an_sdk_event_without_dataschema_and_derive_it():
    env = approved()
    message = ce_kafka.to_structured(sdk_event(env, without=("dataschema",)), JSONFormat())
    assert decode(message.value, message.headers).dataschema == "urn:cxc:event:exchange.approved:v1"


def test_the_sdk_reads_our_http_body_and_we_read_its_structured_request_body():
    env = approved()
    ours = ce_http.HTTPMessage(headers={"content-type": CONTENT_TYPE}, body=env.to_json())
    event = ce_http.from_http(ours, JSONFormat())
    assert event.get_attributes() == expected_attributes(env) and event.get_data() == env.data
    structured = ce_http.to_structured(sdk_event(env), JSONFormat())
    assert structured.headers["content-type"].startswith("application/cloudevents+json")
    assert decode(structured.body) == env


def test_an_old_format_event_is_not_a_valid_cloudevent_until_upgraded():
    """Why the attributes were renamed: the SDK refuses snake_case extension names."""
    env = approved()
    raw = json.loads(env.to_json())
    raw["correlation_id"] = raw.pop("correlationid")
    raw["schema_version"] = raw.pop("schemaversion")
    raw["causation_id"] = raw.pop("causationid")
    del raw["dataschema"]
    old = json.dumps(raw).encode()
    try:
        ce_kafka.from_structured(ce_kafka.KafkaMessage({}, None, old), JSONFormat())
    except Exception as exc:  # the SDK's CloudEventValidationError
        assert "lowercase letters and numbers" in str(exc)
    else:
        raise AssertionError("the SDK accepted extension names the spec forbids")
    upgraded, _ = upgrade_json(old)
    event = ce_kafka.from_structured(ce_kafka.KafkaMessage({}, None, upgraded), JSONFormat())
    assert event.get_extension("correlationid") == "req-42" and decode(old) == env
