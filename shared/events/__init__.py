"""Event contracts: one envelope, one pydantic model per event type and version, one topic registry."""

from shared.events.catalogue import CATALOGUE, EventData, event_model
from shared.events.envelope import Envelope, EventDecodeError, decode, encode, new_envelope
from shared.events.topics import TOPICS, Topic, topic_for_type

__all__ = [
    "CATALOGUE",
    "Envelope",
    "EventData",
    "EventDecodeError",
    "TOPICS",
    "Topic",
    "decode",
    "encode",
    "event_model",
    "new_envelope",
    "topic_for_type",
]
