"""Ops commands of ``cxc``: tail, lag, dead letters, trace and topics, against the broker the settings
point at (``CXC_KAFKA_BOOTSTRAP``, or ``--bootstrap``), in the services' topic namespace
(``CXC_TOPIC_NAMESPACE``, or ``--namespace``; names are printed and taken without it)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta


def _bootstrap(args) -> str:
    if args.bootstrap:
        return args.bootstrap
    from shared.settings import ServiceSettings

    # Not ServiceSettings(): ops commands need the broker only, not the services' secrets.
    return os.environ.get("CXC_KAFKA_BOOTSTRAP") or ServiceSettings.model_fields["kafka_bootstrap"].default


def _namespace(args):
    from shared.messaging.namespace import Namespace

    try:
        return Namespace(args.namespace) if args.namespace is not None else Namespace.from_env()
    except ValueError as exc:
        raise SystemExit(f"cxc: {exc}") from None


def _output(args):
    from cxc.ops.render import Output

    return Output(json_lines=getattr(args, "json", False))


def parse_time(text: str) -> datetime:
    """An ISO time (UTC when no zone is given) or an age like ``15m``, ``2h``, ``1d``."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    if text[-1:] in units and text[:-1].isdigit():
        return datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO time or an age like 15m: {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _run(coro) -> int:
    try:
        return asyncio.run(coro)
    except LookupError as exc:
        print(f"cxc: {exc.args[0]}", file=sys.stderr)
        return 2


def cmd_tail(args) -> int:
    from shared.messaging.reader import Filter
    from cxc.ops.tail import tail

    keep = Filter(event_type=args.type, cluster=args.cluster, subject=args.subject,
                  correlation_id=args.correlation_id, since=args.since)

    async def run() -> int:
        await tail(_bootstrap(args), args.topics, _output(args), keep=keep, offset=args.offset, since=args.since,
                   beginning=args.from_beginning, follow=not args.no_follow, limit=args.limit,
                   namespace=_namespace(args))
        return 0

    return _run(run())


def cmd_topics_list(args) -> int:
    from shared.events.topics import TOPICS

    for t in TOPICS.values():
        print(f"{t.name:22} key={t.key:16} partitions={t.partitions} dlq={t.dlq}  types={','.join(t.event_types)}")
    return 0


def cmd_topics_create(args) -> int:
    from shared.events.topics import topic_specs
    from shared.messaging.kafka import ensure_topics

    created = asyncio.run(ensure_topics(_bootstrap(args), topic_specs(), namespace=_namespace(args)))
    print(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else " (all existed)"))
    return 0


def cmd_topics_describe(args) -> int:
    from cxc.ops.topics import describe

    return _run(describe(_bootstrap(args), args.topics, _output(args), namespace=_namespace(args)))


def cmd_lag(args) -> int:
    from cxc.ops.lag import lag

    return _run(lag(_bootstrap(args), _output(args), groups=args.group, namespace=_namespace(args)))


def cmd_dlq_list(args) -> int:
    from cxc.ops import dlq

    return _run(dlq.list_cmd(_bootstrap(args), args.topics, _output(args), namespace=_namespace(args)))


def cmd_dlq_show(args) -> int:
    from cxc.ops import dlq

    return _run(dlq.show_cmd(_bootstrap(args), args.ref, _output(args), namespace=_namespace(args)))


def cmd_dlq_replay(args) -> int:
    from cxc.ops import dlq

    return _run(dlq.replay_cmd(_bootstrap(args), args.refs, _output(args), all_of=args.all, topics=args.topic,
                               namespace=_namespace(args), force=args.force))


def cmd_dlq_purge(args) -> int:
    from cxc.ops import dlq

    return _run(dlq.purge_cmd(_bootstrap(args), args.topics, _output(args), yes=args.yes, ask=input,
                              namespace=_namespace(args)))


def _dev_stack() -> dict:
    """What ``cxc run`` wrote to ``.cxc/dev.json`` (URLs, dev keys), or nothing."""
    import json

    from cxc.cli import home

    try:
        return json.loads((home() / "dev.json").read_text())
    except (OSError, ValueError):
        return {}


def cmd_trace(args) -> int:
    from cxc.ops.trace import trace

    dev = _dev_stack()
    url = args.notifications_url or os.environ.get("CXC_NOTIFICATIONS_URL") or dev.get("urls", {}).get("notifications")
    key = args.api_key or os.environ.get("CXC_API_KEY") or dev.get("keys", {}).get("ops")
    return _run(trace(_bootstrap(args), args.correlation_id, _output(args), notifications_url=url, api_key=key,
                      namespace=_namespace(args)))


def examples(*lines: str) -> str:
    """An epilog of example command lines (cxc.cli keeps its line breaks)."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def register(sub) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bootstrap", help="Kafka bootstrap servers (default: CXC_KAFKA_BOOTSTRAP)")
    common.add_argument("--namespace", help="topic namespace of the services (default: CXC_TOPIC_NAMESPACE; "
                        "'' for none)")
    common.add_argument("--json", action="store_true", help="JSON lines instead of tables")

    tail = sub.add_parser("tail", parents=[common], help="follow events live (one, several or all topics)",
                          epilog=examples("cxc tail", "cxc tail cxc.participants --from-beginning --no-follow --json",
                                          "cxc tail --type participant.* --cluster gaia --since 15m"))
    tail.add_argument("topics", nargs="*", metavar="TOPIC", help="default: every registry topic")
    start = tail.add_mutually_exclusive_group()
    start.add_argument("--from-beginning", action="store_true", help="start at the oldest retained event")
    start.add_argument("--offset", type=int, help="start at this offset in every partition")
    start.add_argument("--since", type=parse_time, help="start at a time: ISO (UTC) or an age like 15m, 2h")
    tail.add_argument("--type", help="event type, or a prefix like participant.*")
    tail.add_argument("--cluster", help="events naming this cluster (home, sending or host)")
    tail.add_argument("--subject", help="aggregate id (the Kafka key)")
    tail.add_argument("--correlation-id", help="events of one request (the X-Correlation-ID it answered with)")
    tail.add_argument("--limit", type=int, help="stop after this many matching events")
    tail.add_argument("--no-follow", action="store_true", help="stop at the current end instead of waiting")
    tail.set_defaults(fn=cmd_tail)

    lag = sub.add_parser("lag", parents=[common], help="consumer groups: committed, end, lag, last event time",
                         epilog=examples("cxc lag", "cxc lag --group reporting --json"))
    lag.add_argument("--group", action="append", help="only this group (repeatable)")
    lag.set_defaults(fn=cmd_lag)

    dlq = sub.add_parser("dlq", help="dead letters").add_subparsers(dest="dlq_command", required=True)
    listing = dlq.add_parser("list", parents=[common], help="dead letters with their error",
                              epilog=examples("cxc dlq list", "cxc dlq list cxc.participants --json"))
    listing.add_argument("topics", nargs="*", metavar="TOPIC", help="a topic or its .dlq (default: all)")
    listing.set_defaults(fn=cmd_dlq_list)
    show = dlq.add_parser("show", parents=[common], help="one dead letter in full",
                           epilog=examples("cxc dlq show cxc.participants.dlq:0:12"))
    show.add_argument("ref", metavar="REF", help="DLQ_TOPIC:PARTITION:OFFSET as dlq list prints it")
    show.set_defaults(fn=cmd_dlq_show)
    replay = dlq.add_parser("replay", parents=[common], help="re-publish dead letters to their original topic",
                             epilog=examples("cxc dlq replay cxc.participants.dlq:0:12",
                                             "cxc dlq replay --all --topic cxc.participants"))
    replay.add_argument("refs", nargs="*", metavar="REF", help="DLQ_TOPIC:PARTITION:OFFSET as dlq list prints it")
    replay.add_argument("--all", action="store_true", help="every dead letter not purged")
    replay.add_argument("--topic", action="append", help="with --all: only this topic's dead letters")
    replay.add_argument("--force", action="store_true",
                        help="also replay events older than the processed-event marker horizon "
                             "(CXC_PROCESSED_EVENTS_RETENTION_DAYS), which consumers may apply a second time")
    replay.set_defaults(fn=cmd_dlq_replay)
    purge = dlq.add_parser("purge", parents=[common], help="hide every current dead letter from list and replay",
                            epilog=examples("cxc dlq purge cxc.participants --yes"))
    purge.add_argument("topics", nargs="*", metavar="TOPIC", help="a topic or its .dlq (default: all)")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    purge.set_defaults(fn=cmd_dlq_purge)

    trace = sub.add_parser("trace", parents=[common], help="every event one request caused, in time order",
                           epilog=examples("cxc trace 6f1c2a9e-0d4b-4c1e-9a57-3b2f1e8d7c60 --json"))
    trace.add_argument("correlation_id", metavar="CORRELATION_ID", help="the X-Correlation-ID of the request")
    trace.add_argument("--notifications-url", help="also list deliveries (default: CXC_NOTIFICATIONS_URL, or "
                       "the URL in .cxc/dev.json)")
    trace.add_argument("--api-key", help="ops key for the notifications API (default: CXC_API_KEY, or the "
                       "ops key in .cxc/dev.json)")
    trace.set_defaults(fn=cmd_trace)

    topics = sub.add_parser("topics", help="topics of the registry").add_subparsers(
        dest="topics_command", required=True)
    topics.add_parser("list", help="the topic registry",
                      epilog=examples("cxc topics list")).set_defaults(fn=cmd_topics_list)
    topics.add_parser("create", parents=[common], help="create missing topics on the broker",
                      epilog=examples("cxc topics create", "cxc topics create --bootstrap kafka:9092")).set_defaults(
        fn=cmd_topics_create)
    describe = topics.add_parser("describe", parents=[common], help="partitions, messages and retention on the broker",
                                 epilog=examples("cxc topics describe", "cxc topics describe cxc.participants --json"))
    describe.add_argument("topics", nargs="*", metavar="TOPIC", help="default: every registry topic and its DLQ")
    describe.set_defaults(fn=cmd_topics_describe)
