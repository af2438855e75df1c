"""The whole system as processes: ``cxc run`` (embedded PostgreSQL, the broker, the four services), as the
e2e and chaos suites drive it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from cxc.infra.embedded import free_port

SERVICES = ("registration", "matchmaking", "notifications", "reporting")


def stack_home(prefix: str) -> Path:
    """Outside pytest's tmp root: pytest resets that root to 0700 whenever a session starts, which would
    lock the embedded PostgreSQL's system user out of its data directory."""
    return Path(tempfile.mkdtemp(prefix=prefix))


class Stack:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.ports = {name: free_port() for name in SERVICES}
        self.infra_ports = {"CXC_EMBEDDED_PG_PORT": free_port(), "CXC_EMBEDDED_BROKER_PORT": free_port()}
        self.proc: subprocess.Popen | None = None
        self.dev: dict = {}
        self.extra_env: dict[str, str] = {}

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(self, timeout: float = 120) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CXC_")}
        env.update({f"CXC_{name.upper()}_PORT": str(port) for name, port in self.ports.items()})
        env.update({k: str(v) for k, v in self.infra_ports.items()})
        env.update(CXC_HOME=str(self.home), CXC_CONSUMER_SESSION_TIMEOUT_MS="6000", **self.extra_env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cxc.cli", "run"], env=env, stdout=subprocess.PIPE,
            stderr=open(self.home / "cxc-run.err", "ab"), text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith('{"ready": true'):
                self.dev = json.loads((self.home / "dev.json").read_text())
                return
        raise AssertionError(f"cxc run did not become ready:\n{(self.home / 'cxc-run.err').read_text()[-4000:]}")

    def stop(self) -> int:
        """Ctrl-C, as an operator stops it; the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(90)

    def close(self) -> None:
        """Teardown: stop a stack that still runs (a test may have stopped it already), killing it only when
        Ctrl-C does not end it, so embedded PostgreSQL shuts down cleanly and frees its ports."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.stop()
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)

    def key(self, who: str) -> dict:
        return {"Authorization": f"Bearer {self.dev['keys'][who]}"}


@contextlib.contextmanager
def running_stack(prefix: str, extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """A started stack in a fresh home (``prefix`` names it), closed afterwards; what the module fixtures of
    the e2e and chaos suites yield."""
    stack = Stack(stack_home(prefix))
    stack.extra_env.update(extra_env or {})
    try:
        stack.start()
        yield stack
    finally:
        stack.close()
