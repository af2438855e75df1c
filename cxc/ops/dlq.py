"""``cxc dlq``: inspect, replay and purge dead letters.

A dead letter is the original record (key, value, headers) plus the ``cxc_error_*`` / ``cxc_original_*``
headers the consumer runner adds. Replay re-publishes the original key, value and CloudEvents headers to
the original topic; consumers deduplicate by event id, so replaying one that was meanwhile applied changes
nothing, and replaying one twice applies it once.

Purge cannot delete: the embedded broker has no DeleteRecords, and dead letters are evidence worth keeping
until retention removes them. It commits a "purged up to" offset per DLQ partition for the ops group
``cxc-ops-dlq-purged``; ``list`` and ``replay`` start there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiokafka import TopicPartition

from shared.events.topics import TOPICS
from shared.housekeeping import MARKER_RETENTION_VAR, marker_horizon
from shared.messaging.kafka import bounded, close_quietly, new_producer
from shared.messaging.namespace import NO_NAMESPACE, Namespace
from cxc.ops.render import Output
from shared.messaging.reader import Message, TopicReader

PURGE_GROUP = "cxc-ops-dlq-purged"


def dlq_names(names: list[str] | None, existing: set[str]) -> list[str]:
    if not names:
        return [t.dlq for t in TOPICS.values() if t.dlq in existing]
    return [n if n.endswith(".dlq") else f"{n}.dlq" for n in names]


def parse_ref(ref: str) -> tuple[TopicPartition, int]:
    try:
        topic, partition, offset = ref.rsplit(":", 2)
        return TopicPartition(topic, int(partition)), int(offset)
    except ValueError:
        raise LookupError(f"not a dead-letter reference (DLQ_TOPIC:PARTITION:OFFSET): {ref!r}") from None


async def _window(streams: TopicReader, tps: list[TopicPartition]):
    """(first not purged, end) of each DLQ partition."""
    ends = await streams.end_offsets(tps)
    begins = await streams.start_offsets(tps, beginning=True, ends=ends)
    marks = await streams.committed(tps)
    return {tp: min(max(begins[tp], marks[tp] or 0), ends[tp]) for tp in tps}, ends


async def dead_letters(bootstrap: str, topics: list[str] | None = None, timeout_s: float = 10.0,
                       namespace: Namespace = NO_NAMESPACE) -> list[Message]:
    """Dead letters not purged, oldest first per partition."""
    async with TopicReader(bootstrap, group_id=PURGE_GROUP, timeout_s=timeout_s, namespace=namespace) as streams:
        tps = await streams.partitions(dlq_names(topics, await streams.topics()))
        starts, ends = await _window(streams, tps)
        return [m async for m in streams.read(starts, ends)]


async def fetch(bootstrap: str, refs: list[str], timeout_s: float = 10.0,
                namespace: Namespace = NO_NAMESPACE) -> list[Message]:
    """The dead letters named by ``refs``; LookupError for one that does not exist or was purged."""
    found = []
    async with TopicReader(bootstrap, group_id=PURGE_GROUP, timeout_s=timeout_s, namespace=namespace) as streams:
        for ref in refs:
            tp, offset = parse_ref(ref)
            if not tp.topic.endswith(".dlq"):
                raise LookupError(f"{ref}: {tp.topic} is not a dead-letter topic")
            if tp not in await streams.partitions([tp.topic]):
                raise LookupError(f"{ref}: {tp.topic} has no partition {tp.partition}")
            starts, ends = await _window(streams, [tp])
            if not starts[tp] <= offset < ends[tp]:
                why = "was purged" if offset < starts[tp] else "does not exist"
                raise LookupError(f"dead letter {ref} {why} (available: offsets {starts[tp]}..{ends[tp] - 1})")
            found += [m async for m in streams.read({tp: offset}, {tp: offset + 1})]
    return found


def summary(m: Message) -> dict:
    return {
        "ref": m.ref, "original_topic": m.header("cxc_original_topic"), "type": m.event_type or "undecodable",
        "event_id": m.event_id, "correlation_id": m.correlation_id, "consumer": m.header("cxc_consumer"),
        "stage": m.header("cxc_error_stage"), "error": m.header("cxc_error_class"),
        "message": (m.header("cxc_error_message") or "")[:160], "failed_at": m.header("cxc_failed_at"),
    }


async def replay(bootstrap: str, messages: list[Message], timeout_s: float = 10.0,
                 namespace: Namespace = NO_NAMESPACE) -> list[dict]:
    """Re-publish each dead letter to its original topic; return what went where."""
    producer = new_producer(bootstrap, "cxc-ops-replay", timeout_s)
    await bounded(producer.start(), timeout_s, "replay producer start")
    done = []
    try:
        for m in messages:
            target = m.header("cxc_original_topic") or m.topic.removesuffix(".dlq")
            headers = [(k, v) for k, v in m.headers.items() if not k.startswith("cxc_")]
            headers.append(("cxc_replayed_from", m.ref.encode()))
            sent = await bounded(producer.send(namespace.topic(target), m.value, key=m.key, headers=headers),
                                 timeout_s, "send")
            meta = await bounded(sent, timeout_s, "replay ack")
            done.append({"ref": m.ref, "to": f"{target}:{meta.partition}:{meta.offset}", "event_id": m.event_id})
    finally:
        await close_quietly(producer, timeout_s, "replay producer")
    return done


async def purge(bootstrap: str, topics: list[str] | None, confirm: Callable[[int, list[str]], bool],
                timeout_s: float = 10.0, namespace: Namespace = NO_NAMESPACE) -> int | None:
    """Mark every current dead letter of ``topics`` purged if ``confirm(count, dlq_topics)``; return the
    count purged, or None when it was not confirmed."""
    async with TopicReader(bootstrap, group_id=PURGE_GROUP, timeout_s=timeout_s, namespace=namespace) as streams:
        names = dlq_names(topics, await streams.topics())
        tps = await streams.partitions(names)
        starts, ends = await _window(streams, tps)
        count = sum(ends[tp] - starts[tp] for tp in tps)
        if count == 0:
            return 0
        if not confirm(count, names):
            return None
        # Only what was counted and confirmed: dead letters arriving meanwhile stay listed.
        await streams.commit({tp: ends[tp] for tp in tps if ends[tp] > starts[tp]})
        return count


# --- commands -------------------------------------------------------------------------------------


async def list_cmd(bootstrap: str, topics: list[str] | None, out: Output,
                   namespace: Namespace = NO_NAMESPACE) -> int:
    rows = [summary(m) for m in await dead_letters(bootstrap, topics, namespace=namespace)]
    out.rows("dead letters", ["ref", "type", "event_id", "consumer", "error", "message", "failed_at"], rows)
    if not rows and not out.json_lines:
        out.note("no dead letters")
    return 0


async def show_cmd(bootstrap: str, ref: str, out: Output, namespace: Namespace = NO_NAMESPACE) -> int:
    [m] = await fetch(bootstrap, [ref], namespace=namespace)
    if out.json_lines:
        out.emit({**m.as_json(), "summary": summary(m)})
        return 0
    out.console.print(f"[bold]{m.ref}[/bold]  key={m.key.decode(errors='replace') if m.key else None}")
    for name, value in sorted(m.headers.items()):
        text = value.decode(errors="replace")
        out.console.print(f"[cyan]{name}[/cyan]:", text if "\n" not in text else "\n" + text, markup=True)
    body = json.dumps(m.envelope, indent=2) if m.envelope is not None else repr(m.value)
    out.console.print(body, markup=False)
    return 0


def beyond_horizon(messages: list[Message], horizon: timedelta, now: datetime | None = None) -> list[Message]:
    """Dead letters of events older than the processed-event marker horizon. Replay re-publishes to the
    original topic, so every consumer group of it gets the event again; the groups that applied it back
    then skip it only while they still hold its marker, which housekeeping prunes after the horizon.
    The event's own time is the earliest any of them can have applied it, so it is the safe age to judge."""
    limit = (now or datetime.now(UTC)) - horizon
    return [m for m in messages if m.time < limit]


async def replay_cmd(bootstrap: str, refs: list[str], out: Output, *, all_of: bool = False,
                     topics: list[str] | None = None, namespace: Namespace = NO_NAMESPACE, force: bool = False,
                     horizon: timedelta | None = None) -> int:
    if bool(refs) == all_of:
        out.note("give dead-letter references (from 'cxc dlq list') or --all")
        return 2
    messages = (await dead_letters(bootstrap, topics, namespace=namespace) if all_of
                else await fetch(bootstrap, refs, namespace=namespace))
    horizon = horizon if horizon is not None else marker_horizon()
    if not force and (old := beyond_horizon(messages, horizon)):
        days = horizon.total_seconds() / 86400
        out.note(
            f"refused: {len(old)} of these dead letters hold events older than {days:g} days "
            f"({', '.join(m.ref for m in old[:5])}{', …' if len(old) > 5 else ''}). Consumers forget the events "
            f"they applied after {days:g} days ({MARKER_RETENTION_VAR}), so a consumer that applied one of "
            "them back then would apply it again. Nothing was replayed. Check that a second application is "
            "harmless, then replay with --force, or replay only the younger ones by reference."
        )
        return 1
    rows = await replay(bootstrap, messages, namespace=namespace)
    out.rows("replayed", ["ref", "to", "event_id"], rows)
    if not out.json_lines:
        out.note(f"replayed {len(rows)}; consumers skip any already applied (deduplicated by event id). "
                 "Purge them when done: cxc dlq purge")
    return 0


async def purge_cmd(bootstrap: str, topics: list[str] | None, out: Output, *, yes: bool,
                    ask: Callable[[str], str], namespace: Namespace = NO_NAMESPACE) -> int:
    def confirm(count: int, names: list[str]) -> bool:
        if yes:
            return True
        answer = ask(f"Purge {count} dead letters from {', '.join(names)}? They stay on the broker but "
                     "are no longer listed or replayed. Type 'purge' to confirm: ")
        return answer.strip().lower() == "purge"

    purged = await purge(bootstrap, topics, confirm, namespace=namespace)
    if purged is None:
        out.note("not confirmed; nothing purged")
        return 1
    out.note(f"purged {purged} dead letters" + (f" (offsets committed for group {PURGE_GROUP})" if purged else ""))
    return 0
