"""Platform-wide commands: run the embedded stack, event schemas and the AsyncAPI document (topics:
``cxc.ops``)."""

from __future__ import annotations

from pathlib import Path


def cmd_run(args) -> int:
    from cxc.cli import home
    from cxc.devstack import run

    return run(home())


SERVICES = ("registration", "matchmaking", "notifications", "reporting")
SETTINGS_CLASSES = {"registration": "RegistrationSettings", "matchmaking": "MatchmakingSettings",
                    "notifications": "NotificationsSettings", "reporting": "ReportingSettings"}


def service_events() -> list:
    """What each service sends and receives, read off its composition root: the topics it produces (the topic
    registry's ``producer``, for a service that publishes) and its consumer groups with the event types their
    handlers take, the API-key replica that the runtime adds (shared/service.py) included. Settings are not
    validated: nothing here connects or needs a secret."""
    import importlib

    from shared.auth import key_replica_handlers
    from shared.events.asyncapi import Consumer, ServiceEvents
    from shared.events.topics import TOPICS

    out = []
    for name in SERVICES:
        settings_class = getattr(importlib.import_module(f"services.{name}.settings"), SETTINGS_CLASSES[name])
        service = importlib.import_module(f"services.{name}.bootstrap").build(settings_class.model_construct())
        sends = tuple(t.name for t in TOPICS.values() if t.producer == name) if service.publishes else ()
        consumers = [Consumer(spec.name, tuple(spec.topics), tuple(sorted(spec.handlers))) for spec in service.consumers]
        if not service.issues_keys:
            consumers.append(Consumer(f"{name}-keys", ("cxc.keys",), tuple(sorted(key_replica_handlers(None, name)))))
        out.append(ServiceEvents(name, sends, tuple(consumers)))
    return out


def asyncapi_text() -> str:
    from shared.events.asyncapi import document, dumps

    return dumps(document(service_events()))


def cmd_schemas_export(args) -> int:
    from shared.events.schemas import export

    directory = Path(args.dir)
    written = export(directory)
    (directory / "asyncapi.json").write_text(asyncapi_text())
    print(f"wrote {len(written)} JSON Schemas and asyncapi.json (AsyncAPI 3.0) to {args.dir}")
    return 0


def cmd_schemas_asyncapi(args) -> int:
    text = asyncapi_text()
    if args.output == "-":
        print(text, end="")
    else:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}")
    return 0


def register(sub) -> None:
    from cxc.ops import examples

    sub.add_parser("run", help="run the whole system locally (embedded PostgreSQL and broker)",
                   epilog=examples("cxc run", "CXC_HOME=/tmp/cxc cxc run")).set_defaults(fn=cmd_run)

    schemas = sub.add_parser("schemas", help="event JSON Schemas").add_subparsers(dest="schemas_command", required=True)
    export = schemas.add_parser("export", help="write the JSON Schema of every event type and version, and the "
                                               "AsyncAPI 3.0 document of the topics (asyncapi.json)",
                            epilog=examples("cxc schemas export docs/schemas"))
    export.add_argument("dir", help="directory to write into (created if missing)")
    export.set_defaults(fn=cmd_schemas_export)
    asyncapi = schemas.add_parser("asyncapi", help="write the AsyncAPI 3.0 document only",
                                  epilog=examples("cxc schemas asyncapi docs/asyncapi.json", "cxc schemas asyncapi | jq .channels"))
    asyncapi.add_argument("output", nargs="?", default="-", help="file to write; - (the default) for stdout")
    asyncapi.set_defaults(fn=cmd_schemas_asyncapi)
