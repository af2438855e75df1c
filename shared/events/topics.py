"""The one registry of topics: name, the aggregate id used as Kafka key, the event types it carries.

Keying by aggregate id keeps one aggregate's events in order (one partition per key). Topic configuration
lives here so that ``cxc topics`` and the compose topic-creation step agree with the code.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.events.catalogue import LATEST


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    prefixes: tuple[str, ...]
    partitions: int = 4

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(sorted(t for t in LATEST if t.split(".", 1)[0] in self.prefixes))


TOPICS: dict[str, Topic] = {
    t.name: t
    for t in (
        Topic("cxc.participants", key="participant_id", prefixes=("participant",)),
        Topic("cxc.activities", key="activity_id", prefixes=("activity",)),
        Topic("cxc.exchanges", key="exchange_id", prefixes=("exchange",)),
        Topic("cxc.matches", key="activity_id", prefixes=("match",)),
        Topic("cxc.meetings", key="activity_id", prefixes=("meeting",)),
        Topic("cxc.notifications", key="notification_id", prefixes=("notification",)),
        Topic("cxc.keys", key="key_id", prefixes=("apikey",), partitions=1),
    )
}


def topic_for_type(event_type: str) -> Topic:
    prefix = event_type.split(".", 1)[0]
    for topic in TOPICS.values():
        if prefix in topic.prefixes:
            return topic
    raise KeyError(f"no topic carries {event_type!r}")


def topic_specs() -> list[tuple[str, int]]:
    """(name, partitions) of every topic and its dead-letter topic, for creation."""
    return [(t.name, t.partitions) for t in TOPICS.values()] + [(t.dlq, t.partitions) for t in TOPICS.values()]
