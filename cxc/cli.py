"""``cxc``: run the embedded stack and administer the platform.

Commands live next to what they operate on: each module in ``COMMAND_MODULES`` has
``register(subparsers)`` adding its sub-commands, so the CLI grows without one file collecting them all.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

COMMAND_MODULES = [
    "cxc.commands",
    "cxc.ops",
    "services.registration.entrypoints.cli",
    "services.notifications.entrypoints.cli",
    "services.reporting.entrypoints.cli",
]


def home() -> Path:
    return Path(os.environ.get("CXC_HOME", ".cxc"))


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("clusterxchange")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class HelpFormatter(argparse.HelpFormatter):
    """Descriptions wrapped as usual; an examples epilog kept one command line per line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


def subparsers(p: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every parser below ``p`` with its command line (``cxc dlq list``), depth first."""
    found = []
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.append((child.prog, child))
                found += subparsers(child)
    return found


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cxc", description="ClusterXchange platform command line",
        epilog="Run `cxc COMMAND --help` for a command's arguments and examples. Set CXC_DEBUG=1 to see the "
               "traceback of an error.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for prog, child in subparsers(p):
        child.formatter_class = HelpFormatter
        child.set_defaults(prog=prog)  # the innermost command's wins: error messages name it
    return p


def failure(exc: BaseException) -> tuple[str, int] | None:
    """A one-line message and exit status for an error an operator can fix without a traceback: an
    unreachable or refusing database or broker, or a configuration that does not validate; None otherwise."""
    import asyncpg
    import pydantic
    from aiokafka.errors import KafkaConnectionError, KafkaError

    if isinstance(exc, pydantic.ValidationError):
        reasons = "; ".join(
            (f"{'.'.join(map(str, e['loc']))}: " if e["loc"] else "") + e["msg"].removeprefix("Value error, ")
            for e in exc.errors(include_url=False, include_input=False)
        )
        return f"configuration refused: {reasons}", 2
    if isinstance(exc, KafkaConnectionError):
        return f"cannot reach the Kafka broker (CXC_KAFKA_BOOTSTRAP or --bootstrap): {exc}", 1
    if isinstance(exc, KafkaError):
        return f"the Kafka broker refused: {exc}", 1
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        return f"the database refused (CXC_DATABASE_URL): {type(exc).__name__}: {exc}", 1
    if isinstance(exc, OSError) and exc.filename is not None:  # a local file, not the network
        return f"{exc.strerror or exc}: {exc.filename}", 1
    if isinstance(exc, OSError | TimeoutError):
        # Connection refused, unknown host, a socket timeout: the database or the broker is not there.
        return f"cannot connect (check CXC_DATABASE_URL / CXC_KAFKA_BOOTSTRAP): {exc or type(exc).__name__}", 1
    return None


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if not os.environ.get("CXC_DEBUG"):
        # aiokafka logs every failed connection attempt on its own; the one-line error below says it once.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        sys.exit(args.fn(args))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        known = failure(exc)
        if known is None or os.environ.get("CXC_DEBUG"):
            raise
        message, status = known
        print(f"{args.prog}: error: {message}", file=sys.stderr)
        sys.exit(status)


if __name__ == "__main__":
    main()
