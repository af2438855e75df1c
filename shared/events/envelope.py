"""The envelope every event travels in: a CloudEvents 1.0 event in the JSON event format.

Attributes: the CloudEvents context attributes ``specversion``, ``id``, ``source``, ``type``, ``time``,
``subject``, ``datacontenttype`` and ``dataschema``, and three extension attributes, named as the spec
requires of extensions (lower-case a-z and 0-9 only):

- ``schemaversion``: the version of the payload model of ``type`` (an integer);
- ``correlationid``: the id of the request (or first event) that started the chain;
- ``causationid``: the id of the event whose handling recorded this one; absent at a chain's start.

Python code keeps the readable names (``envelope.schema_version``, ``.correlation_id``,
``.causation_id``); on the wire and in every stored copy they have the spec names.

``dataschema`` is ``urn:cxc:event:<type>:v<schemaversion>`` (``schema_uri``): the ``$id`` of the JSON Schema
that ``cxc schemas export DIR`` writes as ``DIR/<type>.v<version>.schema.json``. A URN rather than a URL:
it names the contract, whichever host the schema files are served from, and never changes for a published
(type, version).

Kafka (CloudEvents Kafka protocol binding, structured content mode): the value is the event as UTF-8 JSON,
the header ``content-type`` is ``application/cloudevents+json; charset=utf-8``, the key is the subject
(the aggregate id). As the binding allows (§3.3.3), every other attribute is repeated as a ``ce_<name>``
header carrying exactly the body's string (integers in decimal), so tools can filter without parsing;
``kafka_headers`` derives them from the body, so the two cannot disagree. Receivers pick the mode from
``content-type`` (§3). The Python SDK's ``from_kafka`` guesses binary mode whenever a ``ce_`` header is
present; with our messages call its ``from_structured``. ``decode`` accepts both modes.

HTTP (webhooks, CloudEvents HTTP binding, structured content mode): the same JSON is the body, with
``Content-Type: application/cloudevents+json; charset=utf-8``.

Events written before these names (``schema_version``/``correlation_id``/``causation_id``, no
``dataschema``) stay readable: ``decode`` and ``Envelope`` accept the old names and derive ``dataschema``,
and ``upgrade_json`` rewrites a stored old body to the current names before it is sent again (the outbox
relay, the webhook sender).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from shared.events.catalogue import LATEST, EventData, event_model, upcast
from shared.events.topics import Topic, topic_for_type

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
"""The structured-mode media type, as the Kafka ``content-type`` header and the webhook Content-Type."""

# Extension attributes as first written, before they followed the spec's naming rule.
LEGACY_ATTRIBUTES = {
    "schema_version": "schemaversion", "correlation_id": "correlationid", "causation_id": "causationid",
}
REQUIRED_HEADERS = {"ce_specversion", "ce_id", "ce_source", "ce_type"}  # binary mode: the required attributes
_NOT_HEADERS = {"data", "data_base64", "datacontenttype"}  # the body carries these; content-type names the format
_SCHEMA_URI = re.compile(r"^urn:cxc:event:(?P<type>[a-z0-9_.]+):v(?P<version>[1-9][0-9]*)$")


def schema_uri(event_type: str, version: int) -> str:
    """The ``dataschema`` of ``event_type`` at ``version``: the ``$id`` of its exported JSON Schema."""
    return f"urn:cxc:event:{event_type}:v{version}"


def schema_file(uri: str) -> str:
    """The file name ``cxc schemas export`` gives the schema ``uri`` names. ValueError for another URI."""
    found = _SCHEMA_URI.match(uri)
    if found is None:
        raise ValueError(f"not a ClusterXchange event schema URI: {uri!r}")
    return f"{found['type']}.v{found['version']}.schema.json"


class EventDecodeError(ValueError):
    """The bytes are not a valid event of a known type: a poison message."""


def upgrade(body: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudEvent body with the current attribute names: old extension names renamed, ``dataschema``
    added when the type and version are known. A body already current comes back equal."""
    out = dict(body)
    for old, new in LEGACY_ATTRIBUTES.items():
        if old in out:
            value = out.pop(old)
            if new in out and out[new] != value:
                raise ValueError(f"{old!r} and {new!r} disagree")
            out.setdefault(new, value)
    if out.get("causationid") is None:
        out.pop("causationid", None)
    if out.get("dataschema") is None and isinstance(out.get("type"), str) and isinstance(out.get("schemaversion"), int):
        out["dataschema"] = schema_uri(out["type"], out["schemaversion"])
    return out


def _unset(value: Any) -> bool:
    """Optional attributes that are unset are left out of the JSON rather than written as null."""
    return value is None


class Envelope(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True,
    )

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, description="Unique event id; consumers deduplicate on it")
    source: str = Field(min_length=1, description="Producing service", examples=["/cxc/registration"])
    type: str = Field(min_length=1, examples=["participant.registered"])
    time: datetime
    subject: str = Field(description="Aggregate id, also the Kafka key")
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = Field(
        default=None, exclude_if=_unset, examples=["urn:cxc:event:participant.registered:v2"],
        description="urn:cxc:event:<type>:v<schemaversion>, the $id of the exported JSON Schema",
    )
    schema_version: int = Field(ge=1, alias="schemaversion", description="Version of the payload model of type")
    correlation_id: str = Field(
        min_length=1, alias="correlationid", description="Id of the chain's first request or event",
    )
    causation_id: str | None = Field(
        default=None, alias="causationid", exclude_if=_unset, description="Id of the event that caused this one",
    )
    data: dict[str, Any]

    _payload: EventData | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _current_names(cls, raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            return raw
        if not any(old in raw for old in LEGACY_ATTRIBUTES) and "dataschema" in raw:
            return raw  # the common case: already current
        try:
            return upgrade(raw)
        except ValueError as exc:
            raise ValueError(f"legacy attributes: {exc}") from None

    @model_validator(mode="after")
    def _dataschema_names_type_and_version(self) -> Envelope:
        expected = schema_uri(self.type, self.schema_version)
        if self.dataschema is None:
            object.__setattr__(self, "dataschema", expected)  # frozen: set once, while validating
        elif self.dataschema != expected and self.type in LATEST:  # an unknown type: decode says so, clearer
            raise ValueError(f"dataschema {self.dataschema!r} is not {expected!r} (type and schemaversion)")
        return self

    @property
    def topic(self) -> Topic:
        return topic_for_type(self.type)

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

    def to_json(self) -> bytes:
        """The event in the CloudEvents JSON format (UTF-8): the Kafka value and the webhook body."""
        return _dumps(self.model_dump(mode="json"))


def _dumps(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


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
        dataschema=schema_uri(payload.type, payload.version),
        schema_version=payload.version,
        correlation_id=correlation_id or event_id,
        causation_id=causation_id,
        data=payload.model_dump(mode="json"),
    )


def encode(envelope: Envelope) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Kafka (key, value, headers) for an envelope: structured content mode."""
    body = envelope.model_dump(mode="json")
    return envelope.subject.encode(), _dumps(body), kafka_headers(body)


def kafka_headers(body: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    """The headers of a structured-mode message whose value is ``body``: ``content-type`` and each attribute
    as ``ce_<name>`` with the body's own string, so headers and value agree by construction."""
    headers = [("content-type", CONTENT_TYPE.encode())]
    for name, value in body.items():
        if name in _NOT_HEADERS or value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        headers.append((f"ce_{name}", text.encode()))
    return headers


def upgrade_json(text: str | bytes) -> tuple[bytes, dict[str, Any]]:
    """A stored CloudEvent JSON as it is sent now: (value, body). A current body's bytes are kept as they
    are; one with old attribute names is rewritten. ValueError when ``text`` is not a JSON object."""
    body = json.loads(text)
    if not isinstance(body, dict):
        raise ValueError("a CloudEvent in the JSON format is an object")
    current = upgrade(body)
    if current == body:
        return (text.encode() if isinstance(text, str) else bytes(text)), body
    return _dumps(current), current


def _header_map(headers: Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None) -> dict[str, bytes]:
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {name.lower(): value for name, value in items if value is not None}


def _from_binary_mode(value: bytes | None, headers: dict[str, bytes]) -> dict[str, Any]:
    """The event of a binary-mode message: attributes from ``ce_`` headers, data from the value."""
    try:
        raw: dict[str, Any] = {k[3:]: v.decode() for k, v in headers.items() if k.startswith("ce_")}
        media = headers.get("content-type", b"application/json").decode().split(";", 1)[0].strip().lower()
    except UnicodeDecodeError as exc:
        raise EventDecodeError(f"header not UTF-8: {exc}") from exc
    if media != "application/json":
        raise EventDecodeError(f"binary-mode data of type {media!r}; only application/json is accepted")
    raw["datacontenttype"] = media
    if isinstance(raw.get("schemaversion"), str) and raw["schemaversion"].isdigit():
        raw["schemaversion"] = int(raw["schemaversion"])
    if value is not None:
        try:
            raw["data"] = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EventDecodeError(f"data not JSON: {exc}") from exc
    return raw


def decode(
    value: bytes | None, headers: Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None = None,
) -> Envelope:
    """Parse and validate an event; raise EventDecodeError for anything a consumer cannot apply.

    With the Kafka ``headers`` the content mode is chosen as the binding says: a ``content-type`` of
    ``application/cloudevents...`` is structured mode; otherwise the ``ce_`` headers of every required
    attribute mean binary mode. Else (no headers, or some stray ``ce_`` ones) the value is taken as a
    structured-mode event.
    """
    found = _header_map(headers)
    content_type = found.get("content-type", b"").decode(errors="replace").lower()
    structured = content_type.startswith("application/cloudevents")
    if structured and not content_type.startswith("application/cloudevents+json"):
        raise EventDecodeError(f"event format {content_type!r} is not supported; only application/cloudevents+json")
    if not structured and REQUIRED_HEADERS <= found.keys():
        raw: Any = _from_binary_mode(value, found)
    else:
        if value is None:
            raise EventDecodeError("empty message value")
        try:
            raw = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EventDecodeError(f"not JSON: {exc}") from exc
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        # Without the input: the message goes to logs and dead-letter headers, the data may be personal.
        raise EventDecodeError(f"invalid envelope: {exc.errors(include_url=False, include_input=False)}") from exc
    if envelope.type not in LATEST:
        raise EventDecodeError(f"unknown event type {envelope.type!r}")
    try:
        envelope.payload()
    except (ValidationError, KeyError) as exc:
        raise EventDecodeError(f"invalid {envelope.type} v{envelope.schema_version} payload: {exc}") from exc
    return envelope
