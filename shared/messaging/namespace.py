"""Names on the broker: the registry's topic names and the services' consumer groups, optionally under a
namespace, so several programmes or environments can share one Kafka cluster.

With ``CXC_TOPIC_NAMESPACE=acme`` the topic ``cxc.participants`` lives on the broker as
``acme.cxc.participants`` (its dead letters in ``acme.cxc.participants.dlq``) and the consumer group
``matchmaking-profiles`` is ``acme.matchmaking-profiles``. Everything above the broker keeps the plain names:
events, outbox rows, the registry, the APIs and what the ops tools print. A namespace is applied only where
a name meets the broker (outbox relay, consumer subscriptions and dead letters, topic creation, the ops
tools, the reporting rebuild and stream), and names of other namespaces are invisible through it. No
namespace (the default) leaves every name as it is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # settings import this module: keep it free of the Kafka client
    from aiokafka import TopicPartition

# Kafka's topic alphabet; dots separate the namespace from the name. Short enough that the longest
# registry topic's dead-letter topic stays well inside Kafka's 249-character limit.
NAMESPACE_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"
MAX_NAMESPACE_LENGTH = 100
ENV_VAR = "CXC_TOPIC_NAMESPACE"  # also read by ServiceSettings.topic_namespace


@dataclass(frozen=True)
class Namespace:
    prefix: str = ""

    def __post_init__(self) -> None:
        if self.prefix and (len(self.prefix) > MAX_NAMESPACE_LENGTH or not re.match(NAMESPACE_PATTERN, self.prefix)):
            raise ValueError(
                f"topic namespace {self.prefix!r} is not a namespace: up to {MAX_NAMESPACE_LENGTH} characters of "
                "letters, digits, '_' and '-', in parts separated by single dots"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Namespace:
        """For tools that read no service settings (``cxc run``, the ops commands)."""
        return cls(environ.get(ENV_VAR, ""))

    def __bool__(self) -> bool:
        return bool(self.prefix)

    def topic(self, name: str) -> str:
        """The broker's name of a topic (or a consumer group: the same rule)."""
        return f"{self.prefix}.{name}" if self.prefix else name

    group = topic

    def topics(self, names: Iterable[str]) -> list[str]:
        return [self.topic(n) for n in names]

    def local(self, name: str) -> str | None:
        """The plain name of a broker topic or group of this namespace; None for one outside it."""
        if not self.prefix:
            return name
        head = f"{self.prefix}."
        return name[len(head):] if name.startswith(head) and len(name) > len(head) else None

    def locals(self, names: Iterable[str]) -> set[str]:
        """The plain names of those broker names that belong to this namespace."""
        return {plain for n in names if (plain := self.local(n)) is not None}

    def tp(self, tp: TopicPartition) -> TopicPartition:
        return tp._replace(topic=self.topic(tp.topic)) if self.prefix else tp

    def local_tp(self, tp: TopicPartition) -> TopicPartition:
        plain = self.local(tp.topic)
        if plain is None:
            raise ValueError(f"{tp.topic} is outside topic namespace {self.prefix!r}")
        return tp._replace(topic=plain) if self.prefix else tp


NO_NAMESPACE = Namespace()
