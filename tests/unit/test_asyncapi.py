"""The AsyncAPI 3.0 document (docs/asyncapi.json): current with the code, valid against the official AsyncAPI
3.0 JSON Schema (npm @asyncapi/specs, installed by `make asyncapi-spec`), and true to what goes on the wire."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from cxc.commands import asyncapi_text, service_events
from shared.events import CATALOGUE, TOPICS, encode, new_envelope, topic_for_type
from shared.events.asyncapi import ServiceEvents, document, message_id
from shared.events.catalogue import LATEST, ParticipantErased

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.json"
OFFICIAL_SCHEMA = ROOT / ".tools/asyncapi/node_modules/@asyncapi/specs/schemas/3.0.0.json"


@pytest.fixture(scope="module")
def doc() -> dict:
    return json.loads(asyncapi_text())


def test_the_committed_document_is_current():
    assert COMMITTED.read_text() == asyncapi_text(), (
        "docs/asyncapi.json is stale: the topics, events or consumers changed. Regenerate it with `make asyncapi` "
        "(cxc schemas asyncapi docs/asyncapi.json) and commit it.")


def test_the_document_is_valid_against_the_official_asyncapi_3_schema(doc):
    if not OFFICIAL_SCHEMA.exists():
        # CI installs it (make test): there a missing prerequisite is a failure, never a silent skip.
        (pytest.fail if os.environ.get("CI") else pytest.skip)("the official AsyncAPI schema is not installed: run `make asyncapi-spec` (needs npm)")
    spec = json.loads(OFFICIAL_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(spec)(spec)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(doc)]
    assert errors == []
    broken = json.loads(json.dumps(doc))
    broken["operations"][next(iter(broken["operations"]))]["action"] = "publish"  # AsyncAPI 2's word
    assert list(validator.iter_errors(broken)), "the official schema checks operations"


def _refs(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield path, value
            else:
                yield from _refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _refs(value, f"{path}/{i}")


def _resolve(doc, ref: str):
    node = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_resolves_inside_the_document(doc):
    refs = list(_refs(doc))
    assert len(refs) > 100
    for where, ref in refs:
        assert ref.startswith("#/"), (where, ref)
        _resolve(doc, ref)  # KeyError names the dangling one


def test_channels_messages_and_operations_follow_the_registry_and_the_services(doc):
    for topic in TOPICS.values():
        assert doc["channels"][topic.name]["address"] == topic.name
        assert doc["channels"][topic.dlq]["address"] == topic.dlq
        assert doc["channels"][topic.name]["bindings"]["kafka"]["partitions"] == topic.partitions
    for event_type, version in CATALOGUE:
        mid = message_id(event_type, version)
        channel = doc["channels"][topic_for_type(event_type).name]
        assert channel["messages"][mid] == {"$ref": f"#/components/messages/{mid}"}
    services = {s.name: s for s in service_events()}
    # the services that publish are exactly the producers of the registry's topics
    assert {t.producer for t in TOPICS.values()} == {name for name, s in services.items() if s.sends}
    # each consumer group receives exactly the event types its handlers take, in every version
    receiving = {}
    for op_id, op in doc["operations"].items():
        if op["action"] == "receive":
            group = op["bindings"]["kafka"]["groupId"]["enum"][0]
            receiving.setdefault(group, set()).update(
                _resolve(doc, _resolve(doc, m["$ref"])["$ref"])["name"] for m in op["messages"])
    for service in services.values():
        for consumer in service.consumers:
            handled = {t for t in consumer.event_types if t in LATEST}
            assert receiving[consumer.group] == handled, consumer.group
    assert receiving["matchmaking-keys"] == {"apikey.issued", "apikey.revoked"}  # added by the runtime


def _validator(doc, schema):
    return jsonschema.Draft7Validator({**schema, "components": doc["components"]})


def test_an_encoded_event_conforms_to_its_message_and_not_to_another(doc):
    event = ParticipantErased(participant_id="p-1", cluster_id="gaia", erased_at=datetime(2026, 1, 2, tzinfo=UTC))
    key, value, headers = encode(new_envelope(event, source="/cxc/registration", causation_id="e-0"))
    body, header_map = json.loads(value), {k: v.decode() for k, v in headers}
    message = doc["components"]["messages"][message_id(event.type, event.version)]
    assert list(_validator(doc, message["payload"]).iter_errors(body)) == []
    assert list(_validator(doc, message["headers"]).iter_errors(header_map)) == []
    assert key.decode() == body["subject"] == "p-1"
    location = message["correlationId"]["location"].removeprefix("$message.payload#/")
    assert body[location] == body["id"]  # a chain's first event correlates with itself
    other = doc["components"]["messages"][message_id("participant.registered", LATEST["participant.registered"])]
    assert list(_validator(doc, other["payload"]).iter_errors(body)), "another message's schema refuses it"
    assert list(_validator(doc, other["headers"]).iter_errors(header_map))
    bad = {**body, "data": {**body["data"], "erased_at": 5}}
    assert list(_validator(doc, message["payload"]).iter_errors(bad)), "the payload schema checks data"


def test_a_service_that_sends_nothing_has_no_send_operation():
    quiet = document([ServiceEvents("quiet")])
    assert not [op for op in quiet["operations"] if op.startswith("quiet.")]
    loud = document([ServiceEvents("loud", sends=("cxc.keys",))])
    assert loud["operations"]["loud.send.cxc.keys"]["action"] == "send"
