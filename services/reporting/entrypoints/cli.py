"""``cxc reporting rebuild`` (replay the history into a fresh projection and swap it in) and ``cxc demo``."""

from __future__ import annotations

import asyncio
import json
import os
import sys


def settings(cls):
    """From the environment as in production; on a dev machine without CXC_DATABASE_URL, from the
    database and broker `cxc run` wrote to $CXC_HOME/dev.json."""
    from shared.cli import home

    dev = home() / "dev.json"
    if "CXC_DATABASE_URL" not in os.environ and dev.exists():
        stack = json.loads(dev.read_text())
        print(f"using the dev stack of {dev}", file=sys.stderr)
        return cls(database_url=stack["database_url"], kafka_bootstrap=stack["kafka_bootstrap"])
    return cls()


def cmd_rebuild(args) -> int:
    from services.reporting.rebuild import RebuildRefused, rebuild
    from services.reporting.adapters.eventlog import LogTruncated
    from services.reporting.settings import ReportingSettings

    try:
        result = asyncio.run(rebuild(settings(ReportingSettings), source=args.source, force=args.force))
    except (RebuildRefused, LogTruncated) as exc:
        print(f"error: rebuild refused: {exc}", file=sys.stderr)
        return 2
    print(
        f"rebuilt the projection from the {args.source}: {result.events} events "
        f"(live projection held {result.previous_events}), {result.aggregates} aggregates, "
        f"{result.skipped} undecodable events skipped"
    )
    return 0


def register(sub) -> None:
    from services.reporting.entrypoints import demo

    demo.register(sub)
    reporting = sub.add_parser("reporting", help="the reporting projection").add_subparsers(
        dest="reporting_command", required=True)
    rb = reporting.add_parser(
        "rebuild", help="replay the event history into fresh tables and swap them in atomically",
        description="Reads the history from the broker's topics (default; needs topics retained from offset 0) "
                    "or from every service's outbox in this database (--source outboxes), and refuses, changing "
                    "nothing, if that history lacks events the live projection holds.")
    rb.add_argument("--source", choices=("topics", "outboxes"), default="topics")
    rb.add_argument("--force", action="store_true", help="swap in even if the history is incomplete or truncated")
    rb.set_defaults(fn=cmd_rebuild)
