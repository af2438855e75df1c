"""Consumer lag per group and partition: committed offset, true end offset, lag, last event time.

Groups are listed by the broker; a group's partitions are those it has committed offsets for (the
embedded broker reports no group members or assignments). Ends come from a fetch highwater (see
``shared.messaging.reader``), so the figure is right even where the broker's ListOffsets is not. Shown by
``cxc lag`` and reporting's ``/v1/stream/lag``.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from shared.messaging.kafka import bounded, close_quietly
from shared.messaging.namespace import NO_NAMESPACE, Namespace
from shared.messaging.reader import TopicReader

OPS_GROUP_PREFIX = "cxc-ops"  # the ops tools' own bookkeeping groups (DLQ purge marks), not consumers


async def consumer_groups(bootstrap: str, timeout_s: float = 10.0, namespace: Namespace = NO_NAMESPACE) -> list[str]:
    """The consumer groups of ``namespace`` (plain names), without the ops tools' own."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await bounded(admin.start(), timeout_s, "admin start")
        listed = await bounded(admin.list_consumer_groups(), timeout_s, "list consumer groups")
    finally:
        await close_quietly(admin, timeout_s, "admin")
    return sorted(g for g in namespace.locals(g[0] for g in listed) if not g.startswith(OPS_GROUP_PREFIX))


async def lag_rows(bootstrap: str, groups: list[str] | None = None, timeout_s: float = 10.0,
                   namespace: Namespace = NO_NAMESPACE) -> list[dict]:
    groups = groups or await consumer_groups(bootstrap, timeout_s, namespace)
    async with TopicReader(bootstrap, timeout_s=timeout_s, namespace=namespace) as streams:
        tps = await streams.partitions(sorted(t for t in await streams.topics() if not t.startswith("__")))
        ends = await streams.end_offsets(tps)
        last = await streams.last_records(ends)
    rows = []
    for group in groups:
        async with TopicReader(bootstrap, group_id=group, timeout_s=timeout_s, namespace=namespace) as streams:
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
