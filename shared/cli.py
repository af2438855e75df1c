"""``cxc``: run the embedded stack and administer the platform."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path


def _home() -> Path:
    return Path(os.environ.get("CXC_HOME", ".cxc"))


def _registration_pool():
    from services.registration.settings import RegistrationSettings
    from shared.db import create_pool, migrate

    async def open_pool():
        s = RegistrationSettings()
        pool = await create_pool(s.database_url, s.db_schema, max_size=2)
        await migrate(pool, s.db_schema, "services.registration.migrations")
        return pool

    return open_pool()


def cmd_run(args) -> int:
    from shared.devstack import run

    return run(_home())


def cmd_keys_create(args) -> int:
    from services.registration.adapters import repository

    async def go():
        pool = await _registration_pool()
        try:
            async with pool.acquire() as conn:
                if not await repository.cluster_exists(conn, args.cluster):
                    print(f"error: no cluster {args.cluster!r}", file=sys.stderr)
                    return 2
                print(await repository.add_key(conn, args.cluster, args.role, args.label))
                print("Store this key now: it is shown only once.", file=sys.stderr)
                return 0
        finally:
            await pool.close()

    return asyncio.run(go())


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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cxc", description="ClusterXchange platform command line")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="run the whole system locally (embedded PostgreSQL and broker)").set_defaults(fn=cmd_run)

    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key and print it once")
    create.add_argument("--cluster", required=True)
    create.add_argument("--role", required=True, choices=["partner", "coordinator", "ops"])
    create.add_argument("--label")
    create.set_defaults(fn=cmd_keys_create)

    schemas = sub.add_parser("schemas", help="event JSON Schemas").add_subparsers(dest="schemas_command", required=True)
    export = schemas.add_parser("export", help="write the JSON Schema of every event type and version")
    export.add_argument("dir")
    export.set_defaults(fn=cmd_schemas_export)

    topics = sub.add_parser("topics", help="topics of the registry").add_subparsers(dest="topics_command", required=True)
    topics.add_parser("list", help="the topic registry").set_defaults(fn=cmd_topics_list)
    topics.add_parser("create", help="create missing topics on the broker").set_defaults(fn=cmd_topics_create)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    sys.exit(args.fn(args))


if __name__ == "__main__":
    main()
