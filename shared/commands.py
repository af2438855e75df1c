"""Platform-wide commands: run the embedded stack, topics, event schemas."""

from __future__ import annotations

import asyncio
from pathlib import Path


def cmd_run(args) -> int:
    from shared.cli import home
    from shared.devstack import run

    return run(home())


def cmd_schemas_export(args) -> int:
    from shared.events.schemas import export

    written = export(Path(args.dir))
    print(f"wrote {len(written)} JSON Schemas to {args.dir}")
    return 0


def cmd_topics_create(args) -> int:
    from shared.events.topics import topic_specs
    from shared.messaging.kafka import ensure_topics
    from shared.settings import ServiceSettings

    created = asyncio.run(ensure_topics(ServiceSettings().kafka_bootstrap, topic_specs()))
    print(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else " (all existed)"))
    return 0


def cmd_topics_list(args) -> int:
    from shared.events.topics import TOPICS

    for t in TOPICS.values():
        print(f"{t.name:22} key={t.key:16} partitions={t.partitions} dlq={t.dlq}  types={','.join(t.event_types)}")
    return 0


def register(sub) -> None:
    sub.add_parser("run", help="run the whole system locally (embedded PostgreSQL and broker)").set_defaults(fn=cmd_run)

    schemas = sub.add_parser("schemas", help="event JSON Schemas").add_subparsers(dest="schemas_command", required=True)
    export = schemas.add_parser("export", help="write the JSON Schema of every event type and version")
    export.add_argument("dir")
    export.set_defaults(fn=cmd_schemas_export)

    topics = sub.add_parser("topics", help="topics of the registry").add_subparsers(dest="topics_command", required=True)
    topics.add_parser("list", help="the topic registry").set_defaults(fn=cmd_topics_list)
    topics.add_parser("create", help="create missing topics on the broker").set_defaults(fn=cmd_topics_create)
