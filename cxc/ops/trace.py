"""``cxc trace CORRELATION_ID``: every event one request caused, across topics and services, in time order,
with the consumer groups that have processed each one (their committed offset is past it).

Notifications' deliveries appear as their ``notification.sent`` / ``.failed`` events, which carry the
correlation id of the event that triggered them; given the notifications API and a key (``cxc run`` writes
both to ``.cxc/dev.json``), every delivery planned for a traced event is listed too, sent or not. Dead
letters of the request are listed as well.
"""

from __future__ import annotations

import httpx
from aiokafka import TopicPartition

from shared.events.topics import TOPICS
from shared.messaging.namespace import NO_NAMESPACE, Namespace
from shared.messaging.lag import consumer_groups
from cxc.ops.render import Output
from shared.messaging.reader import Message, TopicReader


async def events_of(bootstrap: str, correlation_id: str, timeout_s: float = 10.0,
                    namespace: Namespace = NO_NAMESPACE) -> list[Message]:
    async with TopicReader(bootstrap, timeout_s=timeout_s, namespace=namespace) as streams:
        existing = await streams.topics()
        names = [n for t in TOPICS.values() for n in (t.name, t.dlq) if n in existing]
        tps = await streams.partitions(names)
        ends = await streams.end_offsets(tps)
        starts = await streams.start_offsets(tps, beginning=True, ends=ends)
        found = [m async for m in streams.read(starts, ends) if m.correlation_id == correlation_id]
    return sorted(found, key=lambda m: (m.time, m.topic, m.partition, m.offset))


async def consumed_by(bootstrap: str, messages: list[Message], timeout_s: float = 10.0,
                      namespace: Namespace = NO_NAMESPACE) -> dict[str, list[str]]:
    """For each message ref, the consumer groups whose committed offset is past it."""
    tps = sorted({TopicPartition(m.topic, m.partition) for m in messages if not m.topic.endswith(".dlq")})
    seen: dict[str, list[str]] = {m.ref: [] for m in messages}
    if not tps:
        return seen
    for group in await consumer_groups(bootstrap, timeout_s, namespace):
        async with TopicReader(bootstrap, group_id=group, timeout_s=timeout_s, namespace=namespace) as streams:
            committed = await streams.committed(tps)
        for m in messages:
            position = committed.get(TopicPartition(m.topic, m.partition))
            if position is not None and position > m.offset:
                seen[m.ref].append(group)
    return seen


async def deliveries(client: httpx.AsyncClient, event_ids: list[str]) -> list[dict]:
    """Deliveries the notifications service planned for these events, as trace rows."""
    rows = []
    for event_id in event_ids:
        response = await client.get("/v1/notifications", params={"event_id": event_id})
        response.raise_for_status()
        for d in response.json():
            detail = f"{d['channel']} {d['template']} attempts={d['attempts']}"
            rows.append({
                "time": d.get("sent_at") or d.get("created_at"), "ref": f"delivery:{d['id']}",
                "type": f"delivery.{d['status']}", "subject": d.get("recipient"), "event_id": None,
                "caused_by": event_id, "source": "/cxc/notifications", "consumed_by": "",
                "dead_letter": None, "detail": detail + (f" error={d['last_error']}" if d.get("last_error") else ""),
            })
    return rows


async def trace_rows(bootstrap: str, correlation_id: str, notifications: httpx.AsyncClient | None = None,
                     namespace: Namespace = NO_NAMESPACE) -> list[dict]:
    messages = await events_of(bootstrap, correlation_id, namespace=namespace)
    seen = await consumed_by(bootstrap, messages, namespace=namespace)
    rows = [
        {
            "time": m.time.isoformat(), "ref": m.ref, "type": m.event_type, "subject": m.subject,
            "event_id": m.event_id, "caused_by": m.causation_id, "source": m.attribute("source"),
            "consumed_by": ",".join(seen[m.ref]),
            "dead_letter": m.header("cxc_error_class") if m.topic.endswith(".dlq") else None, "detail": None,
        }
        for m in messages
    ]
    if notifications is not None:
        rows += await deliveries(notifications, [m.event_id for m in messages if m.event_id and m.event_type])
        rows.sort(key=lambda r: r["time"] or "")
    return rows


async def trace(bootstrap: str, correlation_id: str, out: Output, *, notifications_url: str | None = None,
                api_key: str | None = None, namespace: Namespace = NO_NAMESPACE) -> int:
    client = None
    if notifications_url and api_key:
        client = httpx.AsyncClient(base_url=notifications_url, timeout=5.0,
                                   headers={"Authorization": f"Bearer {api_key}"})
    try:
        try:
            rows = await trace_rows(bootstrap, correlation_id, client, namespace)
        except httpx.HTTPError as exc:
            out.note(f"[yellow]notifications API unavailable ({exc!r}); events only[/yellow]")
            rows = await trace_rows(bootstrap, correlation_id, namespace=namespace)
    finally:
        if client is not None:
            await client.aclose()
    out.rows(f"correlation {correlation_id}",
             ["time", "type", "subject", "event_id", "caused_by", "source", "ref", "consumed_by", "dead_letter",
              "detail"], rows)
    if not rows:
        out.note(f"no event carries correlation id {correlation_id!r}")
        return 1
    return 0
