"""Run a command against ONE PostgreSQL server and ONE Kafka-API broker shared by the whole test session.

This is the shape a developer with Docker gets from testcontainers (tests/conftest.py starts one container
of each per session); CI runs the integration and end-to-end tiers this way too (``make test-shared``), so
that path cannot rot on a machine without Docker::

    python -m tests.shared_infra -- pytest tests/integration tests/e2e

Starts an embedded PostgreSQL and an embedded Tansu broker on free loopback ports, exports
``CXC_TEST_DATABASE_URL`` and ``CXC_TEST_KAFKA_BOOTSTRAP`` to the command, and stops both when the command
ends, fails or is interrupted. Exits with the command's exit status.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from cxc.infra.embedded import EmbeddedBroker, EmbeddedPostgres, free_port


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m tests.shared_infra -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    if argv[0] == "pytest":  # the venv's pytest, whatever PATH says
        argv = [sys.executable, "-m", "pytest", *argv[1:]]
    # Outside pytest's tmp root: pytest resets that root to 0700 whenever a session starts, which would lock
    # the embedded PostgreSQL's system user out of its data directory.
    home = Path(tempfile.mkdtemp(prefix="cxc-shared-infra-"))
    pg = EmbeddedPostgres(home / "pgdata", free_port(), fast_unsafe=True)
    broker = EmbeddedBroker(free_port(), home / "broker.log")
    # SIGTERM (CI cancelling the job) must reach the finally below, like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    child: subprocess.Popen | None = None
    try:
        dsn = pg.start()
        bootstrap = broker.start()
        print(f"shared test infrastructure: PostgreSQL {dsn}, broker {bootstrap}", file=sys.stderr, flush=True)
        env = {**os.environ, "CXC_TEST_DATABASE_URL": dsn, "CXC_TEST_KAFKA_BOOTSTRAP": bootstrap}
        child = subprocess.Popen(argv, env=env)
        return child.wait()
    except KeyboardInterrupt:
        if child and child.poll() is None:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return 130
    finally:
        broker.stop()
        pg.stop()
        if broker.proc and broker.proc.returncode not in (0, -signal.SIGTERM, None):
            print(f"the shared broker exited with {broker.proc.returncode}; its log: {home / 'broker.log'}",
                  file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
