"""``cxc reporting rebuild`` (replay the history into a fresh projection and swap it in) and ``cxc demo``."""

from __future__ import annotations

import asyncio
import json
import os
import sys


def settings(cls):
    """From the environment as in production; on a dev machine without CXC_DATABASE_URL, from the
    database and broker `cxc run` wrote to $CXC_HOME/dev.json."""
    from cxc.cli import home

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


def cmd_dashboard_link(args) -> int:
    """Asks the reporting service for a one-time link signed in as the given key (a coordinator's, typically),
    so the key itself never goes into a URL or a browser's history."""
    import httpx

    from cxc.cli import home

    url, key = args.url, args.key or os.environ.get("CXC_API_KEY")
    dev = home() / "dev.json"
    if dev.exists() and (url is None or key is None):
        stack = json.loads(dev.read_text())
        url = url or stack["urls"]["reporting"]
        key = key or stack["keys"]["coordinator"]
    if not url or not key:
        print("error: pass --url and --key (or set CXC_API_KEY)", file=sys.stderr)
        return 2
    r = httpx.post(f"{url.rstrip('/')}/v1/dashboard-links", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    if r.status_code != 201:
        print(f"error: {r.status_code} {r.text}", file=sys.stderr)
        return 1
    link = r.json()
    print(f"{url.rstrip('/')}{link['path']}  (one use, expires {link['expires_at']})")
    return 0


def register(sub) -> None:
    from cxc.ops import examples
    from services.reporting.entrypoints import demo

    demo.register(sub)
    reporting = sub.add_parser("reporting", help="the reporting projection").add_subparsers(
        dest="reporting_command", required=True)
    rb = reporting.add_parser(
        "rebuild", help="replay the event history into fresh tables and swap them in atomically",
        description="Reads the history from the broker's topics (default; needs topics retained from offset 0) "
                    "or from every service's outbox in this database (--source outboxes), and refuses, changing "
                    "nothing, if that history lacks events the live projection holds.",
        epilog=examples("cxc reporting rebuild", "cxc reporting rebuild --source outboxes"))
    rb.add_argument("--source", choices=("topics", "outboxes"), default="topics",
                    help="where the history comes from (default: topics)")
    rb.add_argument("--force", action="store_true", help="swap in even if the history is incomplete or truncated")
    rb.set_defaults(fn=cmd_rebuild)
    dl = reporting.add_parser(
        "dashboard-link", help="print a one-time link that opens the dashboard signed in",
        description="The link signs its first visitor in as the key (a session cookie) and expires after "
                    "CXC_REPORTING_LINK_TTL_S; on a dev machine the URL and the coordinator key come from dev.json.",
        epilog=examples("cxc reporting dashboard-link",
                        "cxc reporting dashboard-link --url https://reporting.example.org --key \"$CXC_API_KEY\""))
    dl.add_argument("--url", help="the reporting service, e.g. http://127.0.0.1:8004")
    dl.add_argument("--key", help="the API key to sign in as (default: $CXC_API_KEY)")
    dl.set_defaults(fn=cmd_dashboard_link)
