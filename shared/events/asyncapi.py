"""The AsyncAPI 3.0 document of the platform's events, generated from the code that produces them.

Channels are the topics of the registry (shared/events/topics.py) and their dead-letter topics; messages are
the (type, version) pairs of the catalogue (shared/events/catalogue.py) with their payload schemas; the
envelope, its Kafka headers and key are read off ``Envelope`` and ``encode`` (shared/events/envelope.py) by
encoding sample events, so the document follows any change there; operations are what each service sends
(the topics it produces) and receives (its consumer groups, with the event types each one handles).

Who sends and who receives is passed in as ``ServiceEvents`` (the tooling builds them from the services'
bootstraps: cxc/commands.py), so this module stays in the kernel and imports no service.
``cxc schemas export DIR`` writes the document as DIR/asyncapi.json beside the JSON Schemas, and docs/
asyncapi.json is the committed copy (tests/unit/test_asyncapi.py fails when it is stale).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.events.catalogue import CATALOGUE
from shared.events.envelope import Envelope, encode
from shared.events.topics import TOPICS, Topic, topic_for_type

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
_SCHEMAS = "#/components/schemas/"

# The headers the consumer runner adds to a dead letter (shared/messaging/consumer.py, _dead_letter); the
# original message's headers come first, unchanged.
DEAD_LETTER_HEADERS = {
    "cxc_error_stage": "Where it failed: decode, rejected (a verdict retrying cannot change) or handler",
    "cxc_error_class": "Exception class",
    "cxc_error_message": "Exception message (at most 2000 characters)",
    "cxc_error_trace": "End of the traceback (at most 4000 characters)",
    "cxc_original_topic": "Topic the message was read from, without a namespace prefix",
    "cxc_original_partition": "Its partition (decimal)",
    "cxc_original_offset": "Its offset (decimal)",
    "cxc_consumer": "The consumer group that gave up on it",
    "cxc_failed_at": "When, ISO 8601",
    "cxc_error_attempts": "How many times the handler failed (stage handler only)",
}
_OPTIONAL_DEAD_LETTER_HEADERS = {"cxc_error_attempts"}


@dataclass(frozen=True)
class Consumer:
    group: str
    topics: tuple[str, ...]
    event_types: tuple[str, ...]


@dataclass(frozen=True)
class ServiceEvents:
    """What one service sends and receives."""

    name: str
    sends: tuple[str, ...] = ()  # topics
    consumers: tuple[Consumer, ...] = field(default_factory=tuple)


def message_id(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


# --- schemas -------------------------------------------------------------------------------------------


def _draft07(schema: Any) -> Any:
    """Pydantic writes JSON Schema 2020-12; AsyncAPI's schema format is based on draft-07, where a tuple's
    items are an array (``prefixItems`` is unknown there)."""
    if isinstance(schema, dict):
        out = {k: _draft07(v) for k, v in schema.items()}
        if "prefixItems" in out:
            out["items"] = out.pop("prefixItems")
        return out
    if isinstance(schema, list):
        return [_draft07(v) for v in schema]
    return schema


def _hoist(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Move the schema's ``$defs`` into ``components`` (the refs already point there); a name used twice
    must mean the same schema."""
    schema = dict(schema)
    for name, definition in schema.pop("$defs", {}).items():
        definition = _draft07(definition)
        if name in components and components[name] != definition:
            raise ValueError(f"two different schemas are named {name!r}")
        components[name] = definition
    return _draft07(schema)


def _model_schema(model, components: dict[str, Any]) -> dict[str, Any]:
    return _hoist(model.model_json_schema(ref_template=_SCHEMAS + "{model}"), components)


# --- the envelope as it travels, read off samples --------------------------------------------------------


def _sample(event_type: str, version: int, n: int, *, caused: bool = True) -> Envelope:
    return Envelope(
        id=f"sample-id-{n}", source=f"/sample/source-{n}", type=event_type, subject=f"sample-subject-{n}",
        time=datetime(2000 + n, 1, 2, 3, 4, 5, tzinfo=UTC), schema_version=version,
        correlation_id=f"sample-correlation-{n}", causation_id=f"sample-causation-{n}" if caused else None,
        data={},
    )


@dataclass(frozen=True)
class _Wire:
    constant_body: dict[str, Any]      # attributes whose value is fixed by (type, version)
    headers: dict[str, str | None]     # header name -> its constant value, or None when it varies
    optional_headers: frozenset[str]   # present only when an optional attribute is set
    correlation_attribute: str


def _wire(event_type: str, version: int) -> _Wire:
    encoded = [encode(_sample(event_type, version, n)) for n in (1, 2)]
    bodies = [json.loads(value) for _, value, _ in encoded]
    headers = [dict((k, v.decode()) for k, v in h) for _, _, h in encoded]
    _, _, bare = encode(_sample(event_type, version, 3, caused=False))
    constant = {k: v for k, v in bodies[0].items() if k != "data" and bodies[1].get(k) == v}
    correlation = next(k for k, v in bodies[0].items() if v == "sample-correlation-1")
    return _Wire(
        constant_body=constant,
        headers={k: v if headers[1].get(k) == v else None for k, v in headers[0].items()},
        optional_headers=frozenset(headers[0]) - {k for k, _ in bare},
        correlation_attribute=correlation,
    )


def _descriptions() -> dict[str, str]:
    schema = Envelope.model_json_schema()
    return {name: prop["description"] for name, prop in schema.get("properties", {}).items() if "description" in prop}


def _headers_schema(wire: _Wire, descriptions: dict[str, str]) -> dict[str, Any]:
    properties = {}
    for name, value in wire.headers.items():
        spec: dict[str, Any] = {"type": "string"}
        if value is not None:
            spec["const"] = value
        attribute = name.removeprefix("ce_")
        if name.startswith("ce_"):
            spec["description"] = f"The CloudEvents attribute {attribute!r}, as in the value" + (
                f": {descriptions[attribute]}" if attribute in descriptions else "")
        properties[name] = spec
    return {"type": "object", "properties": properties,
            "required": [n for n in wire.headers if n not in wire.optional_headers]}


# --- the document ----------------------------------------------------------------------------------------


def _kafka_channel_binding(topic: Topic, name: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for key, value in topic.configs:
        if key == "cleanup.policy":
            config[key] = value.split(",")
        elif key in ("retention.ms", "retention.bytes", "delete.retention.ms", "max.message.bytes"):
            config[key] = int(value)
    return {"kafka": {"topic": name, "partitions": topic.partitions, "topicConfiguration": config,
                      "bindingVersion": KAFKA_BINDING_VERSION}}


def _by_topic() -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {name: [] for name in TOPICS}
    for event_type, version in sorted(CATALOGUE):
        out[topic_for_type(event_type).name].append((event_type, version))
    return out


def document(services: Sequence[ServiceEvents], *, version: str = "1") -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    descriptions = _descriptions()

    schemas["CloudEvent"] = _model_schema(Envelope, schemas)
    schemas["CloudEvent"]["description"] = (
        "The envelope of every event: a CloudEvents 1.0 event in the JSON format (structured content mode). "
        "data is the payload of type at the version the message names.")

    by_topic = _by_topic()
    for topic_name, pairs in by_topic.items():
        topic = TOPICS[topic_name]
        channel_messages = {}
        for event_type, event_version in pairs:
            mid = message_id(event_type, event_version)
            model = CATALOGUE[(event_type, event_version)]
            payload_schema = _model_schema(model, schemas)
            payload_schema["title"] = f"{event_type} v{event_version}"
            schemas[mid] = payload_schema
            wire = _wire(event_type, event_version)
            constants = {k: {"const": v} for k, v in wire.constant_body.items()}
            messages[mid] = {
                "name": event_type,
                "title": f"{event_type} v{event_version}",
                **({"summary": " ".join(doc.split())} if (doc := model.__dict__.get("__doc__")) else {}),
                "contentType": wire.headers.get("content-type") or "application/json",
                "headers": _headers_schema(wire, descriptions),
                "payload": {"allOf": [{"$ref": _SCHEMAS + "CloudEvent"}], "type": "object", "properties": {
                    **constants, "data": {"$ref": _SCHEMAS + mid},
                    "subject": {"type": "string", "description": f"The {topic.key}; also the Kafka key"}}},
                "correlationId": {"description": "The chain of requests and events this one belongs to",
                                  "location": f"$message.payload#/{wire.correlation_attribute}"},
                "bindings": {"kafka": {"key": {"type": "string", "description": f"The {topic.key}"},
                                       "bindingVersion": KAFKA_BINDING_VERSION}},
            }
            channel_messages[mid] = {"$ref": f"#/components/messages/{mid}"}
        channels[topic_name] = {
            "address": topic_name,
            "title": topic_name,
            "description": f"Events of the {', '.join(topic.prefixes)} aggregates, keyed by {topic.key} so each "
                           "aggregate's events keep their order. Kept forever (the log is the source of record "
                           "for rebuilds). With CXC_TOPIC_NAMESPACE set, the broker's name carries that prefix.",
            "messages": channel_messages,
            "bindings": _kafka_channel_binding(topic, topic_name),
        }
        channels[topic.dlq] = {
            "address": topic.dlq,
            "title": topic.dlq,
            "description": f"Dead letters of {topic_name}: a message a consumer could not apply, with its "
                           "original key, value and headers plus the cxc_* headers saying why. "
                           "`cxc dlq` lists, replays and purges them.",
            "messages": {"deadLetter": {"$ref": "#/components/messages/deadLetter"}},
            "bindings": _kafka_channel_binding(topic, topic.dlq),
        }
        operations[f"deadLetter.{topic_name}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{topic.dlq}"},
            "title": f"Dead-letter {topic_name}",
            "summary": "Every consumer group of this topic sends the messages it gives up on here",
            "messages": [{"$ref": f"#/channels/{topic.dlq}/messages/deadLetter"}],
        }

    messages["deadLetter"] = {
        "name": "deadLetter",
        "title": "Dead letter",
        "summary": "The original message's bytes (possibly not an event at all), with why it failed",
        "headers": {"type": "object", "properties": {
            name: {"type": "string", "description": text} for name, text in DEAD_LETTER_HEADERS.items()},
            "required": [n for n in DEAD_LETTER_HEADERS if n not in _OPTIONAL_DEAD_LETTER_HEADERS]},
        "payload": {"description": "The original value, unchanged"},
        "bindings": {"kafka": {"key": {"type": "string", "description": "The original key"},
                               "bindingVersion": KAFKA_BINDING_VERSION}},
    }

    for service in services:
        for topic_name in service.sends:
            refs = [{"$ref": f"#/channels/{topic_name}/messages/{message_id(t, v)}"} for t, v in by_topic[topic_name]]
            operations[f"{service.name}.send.{topic_name}"] = {
                "action": "send", "channel": {"$ref": f"#/channels/{topic_name}"},
                "title": f"{service.name} publishes to {topic_name}",
                "summary": "Through the service's transactional outbox: recorded with the state change, sent by "
                           "the relay (at least once; consumers deduplicate on the event id)",
                "messages": refs,
            }
        for consumer in service.consumers:
            for topic_name in consumer.topics:
                wanted = set(consumer.event_types)
                refs = [{"$ref": f"#/channels/{topic_name}/messages/{message_id(t, v)}"}
                        for t, v in by_topic[topic_name] if t in wanted]
                if not refs:
                    continue
                operations[f"{consumer.group}.receive.{topic_name}"] = {
                    "action": "receive", "channel": {"$ref": f"#/channels/{topic_name}"},
                    "title": f"{service.name} ({consumer.group}) consumes {topic_name}",
                    "summary": "Idempotent: applied once per event id; a failing message is retried, then "
                               f"dead-lettered to {TOPICS[topic_name].dlq}. Older versions are upcast to the newest.",
                    "messages": refs,
                    "bindings": {"kafka": {"groupId": {"type": "string", "enum": [consumer.group]},
                                           "bindingVersion": KAFKA_BINDING_VERSION}},
                }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "ClusterXchange events",
            "version": version,
            "description": "The events the ClusterXchange services exchange through Kafka. Generated from the "
                           "topic registry, the event catalogue and the services' consumers by `cxc schemas "
                           "export`; do not edit by hand.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": dict(sorted(operations.items())),
        "components": {"schemas": dict(sorted(schemas.items())), "messages": messages},
    }


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
