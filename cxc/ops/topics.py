"""``cxc topics describe``: what the broker holds for each topic, next to what the registry declares.

Topic configuration lives in code (``shared.events.topics``); retention is shown as the broker reports it
(``retention.ms``), or ``broker default`` when it reports none (the embedded broker reports no configs).
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.events.topics import TOPICS
from shared.messaging.kafka import bounded, close_quietly
from shared.messaging.namespace import NO_NAMESPACE, Namespace
from cxc.ops.render import Output
from shared.messaging.reader import TopicReader


def _registry(name: str):
    return TOPICS.get(name) or TOPICS.get(name.removesuffix(".dlq"))


def human_ms(value: str | None) -> str:
    if value is None:
        return "broker default"
    ms = int(value)
    if ms < 0:
        return "forever"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


async def retention(bootstrap: str, names: list[str], timeout_s: float = 10.0,
                    namespace: Namespace = NO_NAMESPACE) -> dict[str, str | None]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    await bounded(admin.start(), timeout_s, "admin start")
    found: dict[str, str | None] = dict.fromkeys(names)
    try:
        # All configs: the embedded broker drops the connection when asked for named ones.
        responses = await bounded(
            admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, namespace.topic(n)) for n in names]),
            timeout_s, "describe configs",
        )
        for response in responses:
            for error_code, _message, _type, name, entries, *_ in response.resources:
                for entry in entries if error_code == 0 else ():
                    if entry[0] == "retention.ms":
                        found[namespace.local(name)] = entry[1]
    finally:
        await close_quietly(admin, timeout_s, "admin")
    return found


async def describe_rows(bootstrap: str, names: list[str] | None = None, timeout_s: float = 10.0,
                        namespace: Namespace = NO_NAMESPACE) -> list[dict]:
    names = names or [n for t in TOPICS.values() for n in (t.name, t.dlq)]
    async with TopicReader(bootstrap, timeout_s=timeout_s, namespace=namespace) as streams:
        existing = await streams.topics()
        present = [n for n in names if n in existing]
        tps = await streams.partitions(present)
        ends = await streams.end_offsets(tps)
        begins = await streams.start_offsets(tps, beginning=True, ends=ends)
    kept = await retention(bootstrap, present, timeout_s, namespace) if present else {}
    rows = []
    for name in names:
        declared = _registry(name)
        row = {"topic": name, "declared_partitions": declared.partitions if declared else None,
               "key": declared.key if declared else None}
        if name not in existing:
            rows.append({**row, "partitions": None, "messages": None, "retention": None, "state": "missing"})
            continue
        mine = [tp for tp in tps if tp.topic == name]
        state = "ok" if declared is None or declared.partitions == len(mine) else "partitions differ from registry"
        rows.append({
            **row, "partitions": len(mine), "messages": sum(ends[tp] - begins[tp] for tp in mine),
            "per_partition": {tp.partition: ends[tp] - begins[tp] for tp in mine},
            "retention": human_ms(kept.get(name)), "state": state,
        })
    return rows


async def describe(bootstrap: str, names: list[str] | None, out: Output, namespace: Namespace = NO_NAMESPACE) -> int:
    rows = await describe_rows(bootstrap, names, namespace=namespace)
    out.rows("topics", ["topic", "partitions", "declared_partitions", "key", "messages", "per_partition",
                        "retention", "state"], rows)
    return 0 if all(r["state"] == "ok" for r in rows) else 1
