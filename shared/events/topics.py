"""The one registry of topics: name, the aggregate id used as Kafka key, the event types it carries.

Keying by aggregate id keeps one aggregate's events in order (one partition per key). Topic configuration
lives here so that ``cxc topics`` and the compose topic-creation step agree with the code.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.events.catalogue import LATEST


# Every topic keeps its whole log: `cxc reporting rebuild --source topics` replays the topics from the
# beginning, and a new service replica rebuilds its API-key replica from cxc.keys. Dead letters stay until
# `cxc dlq purge`. (Kafka's default would delete after 7 days.) Erasure does not depend on deletion by age:
# see services/reporting/README.md.
KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    prefixes: tuple[str, ...]
    producer: str  # the one service that publishes it (it owns the aggregates); the AsyncAPI's send operations
    partitions: int = 4
    configs: tuple[tuple[str, str], ...] = tuple(KEEP_FOREVER.items())

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(sorted(t for t in LATEST if t.split(".", 1)[0] in self.prefixes))


TOPICS: dict[str, Topic] = {
    t.name: t
    for t in (
        Topic("cxc.participants", key="participant_id", prefixes=("participant",), producer="registration"),
        Topic("cxc.activities", key="activity_id", prefixes=("activity",), producer="registration"),
        Topic("cxc.exchanges", key="exchange_id", prefixes=("exchange",), producer="registration"),
        Topic("cxc.matches", key="activity_id", prefixes=("match",), producer="matchmaking"),
        Topic("cxc.meetings", key="activity_id", prefixes=("meeting",), producer="matchmaking"),
        Topic("cxc.notifications", key="notification_id", prefixes=("notification",), producer="notifications"),
        Topic("cxc.keys", key="key_id", prefixes=("apikey",), producer="registration", partitions=1),
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


def topic_configs() -> dict[str, dict[str, str]]:
    """Topic configs (retention) of every topic and its dead-letter topic, as created by `cxc topics create`."""
    return {name: dict(t.configs) for t in TOPICS.values() for name in (t.name, t.dlq)}
