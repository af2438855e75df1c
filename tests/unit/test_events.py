import json
import re
from datetime import UTC, datetime

import jsonschema
import pytest

from shared.events import CATALOGUE, EventDecodeError, TOPICS, decode, encode, new_envelope, topic_for_type
from shared.events import catalogue
from shared.events.catalogue import EventData, ParticipantRegistered, Profile
from shared.events.envelope import CONTENT_TYPE, schema_file, schema_uri, upgrade_json
from shared.events.schemas import export


def registered(pid="p-1") -> ParticipantRegistered:
    return ParticipantRegistered(
        participant_id=pid,
        profile=Profile(cluster_id="pole-scs", kind="sme", name="Score Digital", country="PL", sectors=("J62.01",)),
        registered_at=datetime(2024, 3, 22, tzinfo=UTC),
    )


def test_envelope_round_trips_through_kafka_bytes():
    env = new_envelope(registered(), source="/cxc/registration", correlation_id="corr-1")
    key, value, headers = encode(env)
    back = decode(value)
    assert back == env
    # v1 is upcast to the newest version: the same profile, its personal part as a legacy (unsealed) seal
    payload = back.payload()
    assert payload.version == catalogue.LATEST["participant.registered"]
    assert catalogue.join_profile(payload.profile, catalogue.PersonalProfile(**payload.personal.plain)) \
        == registered().profile
    assert key == b"p-1"
    assert dict(headers)["ce_type"] == b"participant.registered"
    assert dict(headers)["ce_correlationid"] == b"corr-1"


def test_envelope_uses_cloudevents_attribute_names():
    raw = json.loads(encode(new_envelope(registered(), source="/cxc/registration", causation_id="e-0"))[1])
    for attr in ("specversion", "id", "source", "type", "time", "subject", "datacontenttype", "dataschema"):
        assert attr in raw
    assert raw["specversion"] == "1.0"
    assert {"correlationid", "causationid", "schemaversion"} <= raw.keys()
    # CloudEvents 1.0: attribute names consist of lower-case letters a-z and digits 0-9 only
    assert all(re.fullmatch(r"[a-z0-9]+", name) for name in raw if name != "data"), sorted(raw)


def test_unset_optional_attributes_are_left_out_not_written_as_null():
    raw = json.loads(encode(new_envelope(registered(), source="/x"))[1])
    assert "causationid" not in raw and None not in raw.values()


def test_the_ce_headers_repeat_every_attribute_exactly_as_the_body_has_it():
    env = new_envelope(registered(), source="/cxc/registration", correlation_id="corr-1", causation_id="e-0")
    _, value, headers = encode(env)
    body, found = json.loads(value), dict(headers)
    assert found.pop("content-type") == CONTENT_TYPE.encode()
    expected = {f"ce_{k}": (v if isinstance(v, str) else json.dumps(v)).encode()
                for k, v in body.items() if k not in ("data", "datacontenttype")}
    assert found == expected
    assert found["ce_time"] == body["time"].encode() and found["ce_schemaversion"] == b"1"


def test_dataschema_names_the_exported_schema_of_the_type_and_version(tmp_path):
    env = new_envelope(registered(), source="/x")
    assert env.dataschema == schema_uri("participant.registered", 1) == "urn:cxc:event:participant.registered:v1"
    export(tmp_path)
    schema = json.loads((tmp_path / schema_file(env.dataschema)).read_text())
    assert schema["$id"] == env.dataschema
    jsonschema.validate(env.data, schema)


def test_a_dataschema_that_contradicts_type_and_version_is_a_decode_error():
    raw = json.loads(encode(new_envelope(registered(), source="/x"))[1])
    raw["dataschema"] = schema_uri("participant.registered", 2)
    with pytest.raises(EventDecodeError, match="dataschema"):
        decode(json.dumps(raw).encode())


def _old_format(env) -> bytes:
    """The event as written before the extension attributes followed the spec: snake_case names,
    causation_id null, no dataschema."""
    raw = json.loads(encode(env)[1])
    del raw["dataschema"]
    raw["schema_version"] = raw.pop("schemaversion")
    raw["correlation_id"] = raw.pop("correlationid")
    raw["causation_id"] = raw.pop("causationid", None)
    return json.dumps(raw).encode()


def test_an_event_in_the_old_format_stays_readable_and_is_sent_on_in_the_new_one():
    env = new_envelope(registered(), source="/x", correlation_id="corr-old", causation_id="e-before")
    old = _old_format(env)
    assert decode(old) == env
    assert decode(old).dataschema == schema_uri("participant.registered", 1)
    value, body = upgrade_json(old.decode())
    assert json.loads(value) == json.loads(encode(env)[1]) == body
    current = encode(env)[1]
    assert upgrade_json(current)[0] == current, "a current body is sent byte for byte as stored"


def test_old_and_new_names_that_disagree_are_a_decode_error():
    raw = json.loads(encode(new_envelope(registered(), source="/x", correlation_id="a"))[1])
    raw["correlation_id"] = "b"
    with pytest.raises(EventDecodeError, match="disagree"):
        decode(json.dumps(raw).encode())


def test_a_binary_mode_message_is_decoded_from_its_headers_and_data():
    env = new_envelope(registered(), source="/x", correlation_id="corr-b", causation_id="e-1")
    _, value, headers = encode(env)
    body = json.loads(value)
    binary = [(k, v) for k, v in headers if k != "content-type"] + [("content-type", b"application/json")]
    assert decode(json.dumps(body["data"]).encode(), binary) == env
    with pytest.raises(EventDecodeError, match="only application/json"):
        decode(b"<xml/>", [*binary[:-1], ("content-type", b"application/xml")])
    with pytest.raises(EventDecodeError, match="not supported"):
        decode(value, [("content-type", b"application/cloudevents+avro")])
    # Without a content-type, only the headers of every required attribute make it binary mode.
    assert decode(value, [("ce_id", env.id.encode())]) == env


def test_subject_and_key_are_the_aggregate_id_of_the_topic():
    env = new_envelope(registered("agg-42"), source="/x")
    assert env.subject == "agg-42"
    assert env.topic.name == "cxc.participants"


def test_correlation_defaults_to_the_event_id_of_a_new_chain():
    env = new_envelope(registered(), source="/x")
    assert env.correlation_id == env.id


@pytest.mark.parametrize(
    "value, reason",
    [
        (b"\xff\xfe not json", "not JSON"),
        (None, "empty"),
        (b'{"hello": "world"}', "invalid envelope"),
    ],
)
def test_undecodable_messages_raise_decode_error(value, reason):
    with pytest.raises(EventDecodeError, match=reason):
        decode(value)


def test_unknown_event_type_is_a_decode_error():
    raw = json.loads(encode(new_envelope(registered(), source="/x"))[1])
    raw["type"] = "participant.teleported"
    with pytest.raises(EventDecodeError, match="unknown event type"):
        decode(json.dumps(raw).encode())


def test_payload_failing_its_model_is_a_decode_error():
    raw = json.loads(encode(new_envelope(registered(), source="/x"))[1])
    del raw["data"]["profile"]
    with pytest.raises(EventDecodeError, match="invalid participant.registered"):
        decode(json.dumps(raw).encode())


def test_catalogue_covers_every_event_family_of_the_brief():
    families = {t.split(".")[0] for t, _ in CATALOGUE}
    assert {"participant", "activity", "exchange", "match", "meeting", "notification"} <= families
    for topic in TOPICS.values():
        assert topic.event_types, f"{topic.name} carries no event type"
        for event_type in topic.event_types:
            assert topic_for_type(event_type) is topic


def _property_names(schema) -> set[str]:
    names = set()
    if isinstance(schema, dict):
        names |= set(schema.get("properties", {}))
        for value in schema.values():
            names |= _property_names(value)
    elif isinstance(schema, list):
        for value in schema:
            names |= _property_names(value)
    return names


def test_events_carry_no_contact_fields():
    for (event_type, version), model in CATALOGUE.items():
        fields = _property_names(model.model_json_schema())
        personal = fields & {"email", "phone", "contact", "contact_name", "address"}
        assert not personal, f"{event_type} v{version} has personal fields {personal}"


@pytest.fixture
def versioned_event():
    """A throwaway event type at v1 and v2 with an upcaster, removed after the test."""

    class Old(EventData):
        type = "participant.test_renamed"
        version = 1
        participant_id: str
        full_name: str

    class New(EventData):
        type = "participant.test_renamed"
        version = 2
        participant_id: str
        display_name: str
        source: str

    catalogue.event(Old)
    catalogue.event(New)

    @catalogue.upcaster("participant.test_renamed", 1)
    def v1_to_v2(data):
        return {"participant_id": data["participant_id"], "display_name": data["full_name"], "source": "upcast"}

    yield Old, New
    for v in (1, 2):
        catalogue.CATALOGUE.pop(("participant.test_renamed", v))
    catalogue.LATEST.pop("participant.test_renamed")
    catalogue.UPCASTERS.pop(("participant.test_renamed", 1))


def test_old_versions_are_upcast_to_the_newest_model(versioned_event):
    old, new = versioned_event
    env = new_envelope(old(participant_id="p-9", full_name="Ada"), source="/x")
    assert env.schema_version == 1
    payload = decode(encode(env)[1]).payload()
    assert isinstance(payload, new)
    assert payload.display_name == "Ada" and payload.source == "upcast"


def test_schema_export_writes_a_valid_schema_per_event_version(tmp_path):
    written = export(tmp_path)
    assert len(written) == len(CATALOGUE) + 1
    schema = json.loads((tmp_path / "participant.registered.v1.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(registered().model_dump(mode="json"), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"participant_id": "x"}, schema)
