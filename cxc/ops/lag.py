"""``cxc lag``: per consumer group and partition, committed offset, true end offset, lag, last event time
(computed in the kernel, ``shared.messaging.lag``, which reporting's live stream page shows too)."""

from __future__ import annotations

from cxc.ops.render import Output
from shared.messaging.lag import lag_rows
from shared.messaging.namespace import NO_NAMESPACE, Namespace


async def lag(bootstrap: str, out: Output, *, groups: list[str] | None = None,
              namespace: Namespace = NO_NAMESPACE) -> int:
    rows = await lag_rows(bootstrap, groups, namespace=namespace)
    out.rows("consumer lag", ["group", "topic", "partition", "committed", "end", "lag", "last_event_time"], rows)
    if not rows and not out.json_lines:
        out.note("no consumer group has committed offsets")
    return 0
