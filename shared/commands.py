"""Platform-wide commands: run the embedded stack, event schemas (topics: ``shared.ops``)."""

from __future__ import annotations

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


def register(sub) -> None:
    sub.add_parser("run", help="run the whole system locally (embedded PostgreSQL and broker)").set_defaults(fn=cmd_run)

    schemas = sub.add_parser("schemas", help="event JSON Schemas").add_subparsers(dest="schemas_command", required=True)
    export = schemas.add_parser("export", help="write the JSON Schema of every event type and version")
    export.add_argument("dir")
    export.set_defaults(fn=cmd_schemas_export)
