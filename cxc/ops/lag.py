"""``cxc lag``: per consumer group and partition, committed offset, true end offset, lag, last event time.

Groups are listed by the broker; a group's partitions are those it has committed offsets for (the
embedded broker reports no group members or assignments). Ends come from a fetch highwater (see
``cxc.ops.streams``), so the figure is right even where the broker's ListOffsets is not.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from shared.messaging.kafka import bounded, close_quietly
from shared.messaging.namespace import NO_NAMESPACE, Namespace
from cxc.ops.render import Output
from cxc.ops.streams import Streams

OPS_GROUP_PREFIX = "cxc-ops"  # the ops tools' own bookkeeping groups (DLQ purge marks), not consumers


async def consumer_groups(bootstrap: str, timeout_s: float = 10.0, namespace: Namespace = NO_NAMESPACE) -> list[str]:
    """The consumer groups of ``namespace`` (plain names), without the ops tools' own."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    await bounded(admin.start(), timeout_s, "admin start")
    try:
        listed = await bounded(admin.list_consumer_groups(), timeout_s, "list consumer groups")
    finally:
        await close_quietly(admin, timeout_s, "admin")
    return sorted(g for g in namespace.locals(g[0] for g in listed) if not g.startswith(OPS_GROUP_PREFIX))


async def lag_rows(bootstrap: str, groups: list[str] | None = None, timeout_s: float = 10.0,
                   namespace: Namespace = NO_NAMESPACE) -> list[dict]:
    groups = groups or await consumer_groups(bootstrap, timeout_s, namespace)
    async with Streams(bootstrap, timeout_s=timeout_s, namespace=namespace) as streams:
        tps = await streams.partitions(sorted(t for t in await streams.topics() if not t.startswith("__")))
        ends = await streams.end_offsets(tps)
        last = await streams.last_records(ends)
    rows = []
    for group in groups:
        async with Streams(bootstrap, group_id=group, timeout_s=timeout_s, namespace=namespace) as streams:
            committed = await streams.committed(tps)
        for tp in tps:
            if committed[tp] is None:
                continue
            rows.append({
                "group": group, "topic": tp.topic, "partition": tp.partition, "committed": committed[tp],
                "end": ends[tp], "lag": max(ends[tp] - committed[tp], 0),
                "last_event_time": last[tp].time.isoformat() if tp in last else None,
            })
    return rows


async def lag(bootstrap: str, out: Output, *, groups: list[str] | None = None,
              namespace: Namespace = NO_NAMESPACE) -> int:
    rows = await lag_rows(bootstrap, groups, namespace=namespace)
    out.rows("consumer lag", ["group", "topic", "partition", "committed", "end", "lag", "last_event_time"], rows)
    if not rows and not out.json_lines:
        out.note("no consumer group has committed offsets")
    return 0
