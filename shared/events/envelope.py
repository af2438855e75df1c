"""The envelope every event travels in: CloudEvents 1.0 attribute names plus tracing ids.

On the wire (Kafka) the value is the structured-mode CloudEvent as UTF-8 JSON, the key is the aggregate
id as a string, and the ``ce_*`` headers repeat the routing attributes so standard tools can filter
without parsing the body.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from shared.events.catalogue import LATEST, EventData, event_model, upcast
from shared.events.topics import Topic, topic_for_type


class EventDecodeError(ValueError):
    """The bytes are not a valid event of a known type: a poison message."""


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(description="Unique event id; consumers deduplicate on it")
    source: str = Field(description="Producing service", examples=["/cxc/registration"])
    type: str = Field(examples=["participant.registered"])
    time: datetime
    subject: str = Field(description="Aggregate id, also the Kafka key")
    datacontenttype: Literal["application/json"] = "application/json"
    schema_version: int = Field(ge=1)
    correlation_id: str
    causation_id: str | None = None
    data: dict[str, Any]

    @property
    def topic(self) -> Topic:
        return topic_for_type(self.type)

    _payload: EventData | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:  # the payload cache is not part of the event's identity
        return isinstance(other, Envelope) and self.model_dump() == other.model_dump()

    def __hash__(self) -> int:
        return hash(self.id)

    def payload(self) -> EventData:
        """The typed payload, upcast to the newest version of its type (parsed once, then cached: the
        consumer validates it on decode and handlers read it again)."""
        if self._payload is None:
            version, data = upcast(self.type, self.schema_version, self.data)
            self._payload = event_model(self.type, version).model_validate(data)
        return self._payload


def new_envelope(
    payload: EventData,
    *,
    source: str,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> Envelope:
    topic = topic_for_type(payload.type)
    event_id = event_id or str(uuid.uuid4())
    return Envelope(
        id=event_id,
        source=source,
        type=payload.type,
        time=time or datetime.now(UTC),
        subject=str(getattr(payload, topic.key)),
        schema_version=payload.version,
        correlation_id=correlation_id or event_id,
        causation_id=causation_id,
        data=payload.model_dump(mode="json"),
    )


def encode(envelope: Envelope) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Kafka (key, value, headers) for an envelope."""
    value = envelope.model_dump_json().encode()
    headers = kafka_headers(
        event_id=envelope.id, event_type=envelope.type, source=envelope.source, time=envelope.time.isoformat(),
        subject=envelope.subject, correlation_id=envelope.correlation_id,
    )
    return envelope.subject.encode(), value, headers


def kafka_headers(
    *, event_id: str, event_type: str, source: str, time: str, subject: str, correlation_id: str
) -> list[tuple[str, bytes]]:
    """The CloudEvents binary-mode attributes repeated as headers, so tools can filter without parsing."""
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_type", event_type.encode()),
        ("ce_source", source.encode()),
        ("ce_time", time.encode()),
        ("ce_subject", subject.encode()),
        ("ce_correlationid", correlation_id.encode()),
        ("content-type", b"application/cloudevents+json; charset=utf-8"),
    ]


def decode(value: bytes | None) -> Envelope:
    """Parse and validate an event; raise EventDecodeError for anything a consumer cannot apply."""
    if value is None:
        raise EventDecodeError("empty message value")
    try:
        raw = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EventDecodeError(f"not JSON: {exc}") from exc
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        raise EventDecodeError(f"invalid envelope: {exc.errors(include_url=False)}") from exc
    if envelope.type not in LATEST:
        raise EventDecodeError(f"unknown event type {envelope.type!r}")
    try:
        envelope.payload()
    except (ValidationError, KeyError) as exc:
        raise EventDecodeError(f"invalid {envelope.type} v{envelope.schema_version} payload: {exc}") from exc
    return envelope
