"""``cxc`` as an operator meets it: every command and argument has help, every runnable command shows
examples, ``--version`` answers, and unreachable infrastructure gives one line and an exit status, no
traceback."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from cxc.cli import failure, parser, subparsers
from tests.support.secrets import TEST_SECRETS


def _runnable(p: argparse.ArgumentParser) -> bool:
    return not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)


def test_every_command_and_argument_has_help():
    missing = []
    for prog, p in [("cxc", parser()), *subparsers(parser())]:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{prog} {c.dest}" for c in action._choices_actions if not c.help]
            elif not action.help:
                missing.append(f"{prog} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_every_runnable_command_shows_examples_of_itself():
    commands = [(prog, p) for prog, p in subparsers(parser()) if _runnable(p)]
    assert len(commands) > 20
    for prog, p in commands:
        help_text = p.format_help()
        assert "examples:\n" in help_text, prog
        shown = help_text.split("examples:\n", 1)[1].splitlines()
        assert any(line.strip().startswith(prog) for line in shown), (prog, shown)


def test_the_walk_finds_an_argument_without_help():
    p = argparse.ArgumentParser(prog="x")
    p.add_subparsers().add_parser("y", help="y").add_argument("--z")
    (_, child), = subparsers(p)
    assert [a.dest for a in child._actions if not a.help] == ["z"]


def _cxc(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CXC_")}
    return subprocess.run([sys.executable, "-m", "cxc.cli", *args], env={**clean, **env}, capture_output=True,
                          text=True, timeout=60)


def test_version():
    done = _cxc("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("cxc ") and done.stdout.split()[1][0].isdigit(), done.stdout


def test_an_unreachable_database_is_one_line_and_status_1():
    done = _cxc("admin", "init", "--programme", "P", "--coordinator-cluster", "gaia",
                CXC_DATABASE_URL="postgresql://x@127.0.0.1:1/x", CXC_ENV="test", **TEST_SECRETS)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("cxc admin init: error: cannot connect"), done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize("command", [["tail", "--no-follow"], ["lag"], ["dlq", "list"], ["topics", "describe"]])
def test_an_unreachable_broker_is_one_line_and_status_1(command):
    done = _cxc(*command, CXC_KAFKA_BOOTSTRAP="127.0.0.1:1")
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"cxc {' '.join(command[:2] if command[0] != 'tail' else command[:1])}: error: "
                                  "cannot reach the Kafka broker"), done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_refused_configuration_is_one_line_and_status_2():
    done = _cxc("keys", "list", CXC_DATABASE_URL="postgresql://x@127.0.0.1:1/x", CXC_ENV="prod")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("cxc keys list: error: configuration refused: ") and "is not set" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_missing_file_is_not_reported_as_a_connection_problem():
    message, status = failure(FileNotFoundError(2, "No such file or directory", "clusters.csv"))
    assert (message, status) == ("No such file or directory: clusters.csv", 1)
    assert failure(ConnectionRefusedError(111, "Connect call failed"))[0].startswith("cannot connect")


def test_a_programming_error_keeps_its_traceback():
    assert failure(ValueError("a bug")) is None
    assert failure(KeyError("x")) is None
