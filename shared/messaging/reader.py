"""The one group-less topic reader: read topics by hand-assigned partitions, never joining a consumer group,
so watching or replaying moves no service's offsets. Used by the ``cxc`` ops commands (tail, trace, lag, dlq,
topics describe), reporting's rebuild from the topics and its live stream, and the tests.

End offsets are taken from a fetch's highwater, never from ListOffsets: the embedded broker (Tansu)
answers ListOffsets(latest) with a figure that falls behind once producers batch (25 records in one batch
report an end of 1), while the highwater of a fetch response is right on every broker we run.

Under a topic namespace (``shared.messaging.namespace``) ``TopicReader`` shows only that namespace, with
plain names: topics, partitions, messages and group ids go in and come out without the prefix.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from shared.events.envelope import LEGACY_ATTRIBUTES, REQUIRED_HEADERS
from shared.messaging.kafka import bounded, close_quietly
from shared.messaging.namespace import NO_NAMESPACE, Namespace


_OLD_NAMES = {new: old for old, new in LEGACY_ATTRIBUTES.items()}


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def of(cls, record, topic: str | None = None) -> Message:
        return cls(topic or record.topic, record.partition, record.offset, record.timestamp, record.key, record.value,
                   {k: v for k, v in (record.headers or ())})

    @property
    def ref(self) -> str:
        """``topic:partition:offset``, what ``cxc dlq show/replay`` take."""
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def binary_mode(self) -> bool:
        """A CloudEvent in binary content mode: attributes in ``ce_`` headers, the value is the data. The
        Kafka binding decides by ``content-type``; ours are structured (``application/cloudevents+json``).
        The same rule as ``shared.events.envelope.decode``."""
        content_type = (self.header("content-type") or "").lower()
        return not content_type.startswith("application/cloudevents") and REQUIRED_HEADERS <= self.headers.keys()

    @property
    def envelope(self) -> dict[str, Any] | None:
        """The CloudEvent as a dict (as written: old events keep their old attribute names), or None when
        the value is not a JSON object (a poison message)."""
        if not hasattr(self, "_envelope"):
            try:
                parsed = json.loads(self.value) if self.value is not None else None
            except (UnicodeDecodeError, json.JSONDecodeError):
                parsed = None
            if self.binary_mode:
                attributes = {k[3:]: v.decode(errors="replace") for k, v in self.headers.items() if k.startswith("ce_")}
                self._envelope = {**attributes, "data": parsed}
            else:
                self._envelope = parsed if isinstance(parsed, dict) else None
        return self._envelope

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value.decode(errors="replace") if value is not None else None

    def attribute(self, name: str) -> str | None:
        """A CloudEvents attribute (spec name, e.g. ``correlationid``) from the body, under its old name in
        events written before the extensions were renamed, falling back to its ``ce_`` header."""
        env = self.envelope or {}
        value = env.get(name)
        if value is None:
            value = env.get(_OLD_NAMES.get(name, name))
        if value is None:
            value = self.header(f"ce_{name}")
        return None if value is None else str(value)

    @property
    def event_type(self) -> str | None:
        return self.attribute("type")

    @property
    def event_id(self) -> str | None:
        return self.attribute("id")

    @property
    def subject(self) -> str | None:
        return self.attribute("subject")

    @property
    def correlation_id(self) -> str | None:
        return self.attribute("correlationid")

    @property
    def causation_id(self) -> str | None:
        return self.attribute("causationid")

    @property
    def clusters(self) -> set[str]:
        """Every cluster the event names (home, sending, host, profile), for ``--cluster`` filters."""
        data = (self.envelope or {}).get("data") or {}
        found = {str(v) for k, v in data.items() if k.endswith("cluster_id") and v}
        profile = data.get("profile")
        if isinstance(profile, dict) and profile.get("cluster_id"):
            found.add(str(profile["cluster_id"]))
        return found

    @property
    def time(self) -> datetime:
        """The event's own time when it has one, else the broker timestamp."""
        raw = self.attribute("time")
        if raw:
            try:
                return datetime.fromisoformat(raw)
            except ValueError:
                pass
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    def as_json(self) -> dict[str, Any]:
        """One line of ``--json`` output: position, key, headers and the event (or the raw value)."""
        out: dict[str, Any] = {
            "topic": self.topic, "partition": self.partition, "offset": self.offset,
            "timestamp": datetime.fromtimestamp(self.timestamp_ms / 1000, UTC).isoformat(),
            "key": self.key.decode(errors="replace") if self.key is not None else None,
            "headers": {k: v.decode(errors="replace") for k, v in self.headers.items()},
        }
        if self.envelope is not None:
            out["event"] = self.envelope
        else:
            out["value"] = self.value.decode(errors="replace") if self.value is not None else None
        return out


@dataclass(frozen=True)
class Filter:
    event_type: str | None = None
    cluster: str | None = None
    subject: str | None = None
    correlation_id: str | None = None
    since: datetime | None = None

    def __call__(self, m: Message) -> bool:
        if self.event_type and m.event_type != self.event_type and not (
            self.event_type.endswith(".*") and (m.event_type or "").startswith(self.event_type[:-1])
        ):
            return False
        if self.cluster and self.cluster not in m.clusters:
            return False
        if self.subject and m.subject != self.subject:
            return False
        if self.correlation_id and m.correlation_id != self.correlation_id:
            return False
        if self.since and m.timestamp_ms < self.since.timestamp() * 1000:
            return False
        return True


def reader(bootstrap: str, *, group_id: str | None = None, timeout_s: float = 10.0,
           client_id: str = "cxc-ops") -> AIOKafkaConsumer:
    """A consumer that never joins a group (partitions are assigned by hand); ``group_id`` only names whose
    committed offsets it reads or writes."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, client_id=client_id, enable_auto_commit=False,
        auto_offset_reset="earliest", fetch_max_wait_ms=100, request_timeout_ms=int(timeout_s * 1000) + 5000,
        metadata_max_age_ms=5_000,
    )


class TopicReader:
    """An open group-less connection: partitions, true end offsets, committed offsets of a named group, reads."""

    def __init__(self, bootstrap: str, *, group_id: str | None = None, timeout_s: float = 10.0,
                 namespace: Namespace = NO_NAMESPACE, client_id: str = "cxc-ops") -> None:
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self.ns = namespace
        self.consumer = reader(bootstrap, timeout_s=timeout_s, client_id=client_id)
        # Reads and a group's offsets use separate clients: re-assigning partitions of a consumer that has a
        # group id upsets aiokafka's group coordinator, and reads re-assign all the time.
        self.group = reader(bootstrap, group_id=namespace.group(group_id), timeout_s=timeout_s) if group_id else None

    async def __aenter__(self) -> TopicReader:
        try:
            await bounded(self.consumer.start(), self.timeout_s, "ops consumer start")
            if self.group is not None:
                await bounded(self.group.start(), self.timeout_s, "ops group client start")
        except BaseException:
            # Close what was made even when it never started, or aiokafka warns "Unclosed" at exit.
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await close_quietly(self.consumer, self.timeout_s, "ops consumer")
        if self.group is not None:
            await close_quietly(self.group, self.timeout_s, "ops group client")

    def _broker(self, tps: Iterable[TopicPartition]) -> list[TopicPartition]:
        return [self.ns.tp(tp) for tp in tps]

    def _plain(self, by_tp: dict[TopicPartition, Any]) -> dict[TopicPartition, Any]:
        return {self.ns.local_tp(tp): v for tp, v in by_tp.items()}

    def _idle(self) -> None:
        # Pause rather than assign([]): an empty manual assignment trips aiokafka's group coordinator.
        self.consumer.pause(*self.consumer.assignment())

    async def topics(self) -> set[str]:
        await bounded(self.consumer._client.force_metadata_update(), self.timeout_s, "metadata")
        return self.ns.locals(await bounded(self.consumer.topics(), self.timeout_s, "topics"))

    async def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        existing = await self.topics()
        tps = []
        for topic in topics:
            if topic not in existing:
                raise LookupError(f"topic {topic!r} does not exist on {self.bootstrap}")
            found = self.consumer.partitions_for_topic(self.ns.topic(topic)) or ()
            tps += [TopicPartition(topic, p) for p in sorted(found)]
        return tps

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        """True end offsets: the highwater of a fetch from each partition."""
        if not tps:
            return {}
        tps = self._broker(tps)
        reported = await bounded(self.consumer.end_offsets(tps), self.timeout_s, "end offsets")
        self.consumer.assign(tps)
        for tp in tps:
            # The reported end is never past the true one, so this fetch is valid on every broker.
            self.consumer.seek(tp, reported[tp])
        deadline = time.monotonic() + self.timeout_s
        ends: dict[TopicPartition, int] = {}
        while len(ends) < len(tps):
            if time.monotonic() > deadline:
                missing = sorted(f"{tp.topic}[{tp.partition}]" for tp in tps if tp not in ends)
                raise TimeoutError(f"no fetch answer for {missing} within {self.timeout_s:.0f}s")
            await self.consumer.getmany(*[tp for tp in tps if tp not in ends], timeout_ms=200)
            for tp in tps:
                highwater = self.consumer.highwater(tp)
                if highwater is not None and tp not in ends:
                    ends[tp] = highwater
        self._idle()
        return self._plain(ends)

    async def last_records(self, ends: dict[TopicPartition, int]) -> dict[TopicPartition, Message]:
        """The last record of each non-empty partition (for "last event time")."""
        wanted = {tp: end - 1 for tp, end in ends.items() if end > 0}
        found: dict[TopicPartition, Message] = {}
        if wanted:
            async for message in self.read({tp: off for tp, off in wanted.items()}, {tp: ends[tp] for tp in wanted}):
                found[TopicPartition(message.topic, message.partition)] = message
        return found

    async def committed(self, tps: list[TopicPartition]) -> dict[TopicPartition, int | None]:
        """Committed offsets of the group (OffsetFetch through the group coordinator, which the
        embedded broker answers; its admin ListConsumerGroupOffsets is broken)."""
        assert self.group is not None, "TopicReader(group_id=...) reads a group's offsets"
        out = {}
        for tp in tps:
            out[tp] = await bounded(self.group.committed(self.ns.tp(tp)), self.timeout_s, "committed offset")
        return out

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit offsets for this reader's group without joining it (a "simple" commit). Once per TopicReader."""
        assert self.group is not None, "TopicReader(group_id=...) commits a group's offsets"
        if offsets:
            self.group.assign(self._broker(offsets))
            await bounded(
                self.group.commit({self.ns.tp(tp): OffsetAndMetadata(o, "") for tp, o in offsets.items()}),
                self.timeout_s, "commit",
            )

    async def start_offsets(
        self, tps: list[TopicPartition], *, offset: int | None = None, since: datetime | None = None,
        beginning: bool = False, ends: dict[TopicPartition, int] | None = None,
    ) -> dict[TopicPartition, int]:
        """Where to start: the end (now), the beginning, an offset in each partition, or a time."""
        ends = ends if ends is not None else await self.end_offsets(tps)
        if beginning:
            firsts = self.consumer.beginning_offsets(self._broker(tps))
            return self._plain(await bounded(firsts, self.timeout_s, "beginning offsets"))
        if offset is not None:
            return {tp: min(max(offset, 0), ends[tp]) for tp in tps}
        if since is not None:
            found = self._plain(await bounded(
                self.consumer.offsets_for_times({self.ns.tp(tp): int(since.timestamp() * 1000) for tp in tps}),
                self.timeout_s, "offsets for times",
            ))
            # A broker may answer with the offset of the batch holding that time; Filter.since drops the
            # earlier records of that batch.
            return {tp: min(found[tp].offset, ends[tp]) if found.get(tp) else ends[tp] for tp in tps}
        return dict(ends)

    async def read(
        self, starts: dict[TopicPartition, int], stops: dict[TopicPartition, int] | None = None, *,
        heartbeat_s: float | None = None,
    ) -> AsyncIterator[Message | None]:
        """Records from ``starts``; up to ``stops`` (exclusive) when given, else forever (follow). Following
        with ``heartbeat_s``, yields None whenever nothing arrived for that long, so a caller can notice that
        its own client went away."""
        starts = {self.ns.tp(tp): start for tp, start in starts.items()}
        stops = None if stops is None else {self.ns.tp(tp): stop for tp, stop in stops.items()}
        pending = {tp for tp, start in starts.items() if stops is None or start < stops[tp]}
        if not pending:
            return
        self.consumer.assign(sorted(pending))
        for tp in pending:
            self.consumer.seek(tp, starts[tp])
        quiet_s = heartbeat_s if stops is None and heartbeat_s else self.timeout_s
        deadline = time.monotonic() + quiet_s
        while pending:
            batches = await self.consumer.getmany(*sorted(pending), timeout_ms=300)
            if not batches:
                if stops is None and heartbeat_s is not None and time.monotonic() > deadline:
                    deadline = time.monotonic() + quiet_s
                    yield None
                    continue
                if stops is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"reading stalled before the end of {sorted(pending)}")
                continue
            deadline = time.monotonic() + quiet_s
            for tp, records in sorted(batches.items()):
                for record in records:
                    if stops is not None and record.offset >= stops[tp]:
                        break
                    yield Message.of(record, self.ns.local(record.topic))
            if stops is not None:
                for tp in list(pending):
                    if await self.consumer.position(tp) >= stops[tp]:
                        pending.discard(tp)
                        self.consumer.pause(tp)
        self._idle()


async def read_all(
    bootstrap: str, topics: Iterable[str], keep: Callable[[Message], bool] = lambda m: True, timeout_s: float = 10.0,
    namespace: Namespace = NO_NAMESPACE,
) -> list[Message]:
    """Everything now in ``topics`` (beginning to the true end) that ``keep`` accepts."""
    async with TopicReader(bootstrap, timeout_s=timeout_s, namespace=namespace) as streams:
        tps = await streams.partitions(topics)
        ends = await streams.end_offsets(tps)
        starts = await streams.start_offsets(tps, beginning=True, ends=ends)
        return [m async for m in streams.read(starts, ends) if keep(m)]

