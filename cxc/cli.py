"""``cxc``: run the embedded stack and administer the platform.

Commands live next to what they operate on: each module in ``COMMAND_MODULES`` has
``register(subparsers)`` adding its sub-commands, so the CLI grows without one file collecting them all.
"""

from __future__ import annotations

import argparse
import importlib
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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cxc", description="ClusterXchange platform command line")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        sys.exit(args.fn(args))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
