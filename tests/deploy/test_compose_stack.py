"""The README's docker-compose section, run verbatim against docker-compose.yml, without Docker.

Every service of our image runs as a process with exactly its compose command and environment (CXC_ENV=prod
and the secrets compose demands); embedded PostgreSQL, the Tansu broker and an aiosmtpd server that demands
STARTTLS and a login stand in for the postgres, kafka and mailpit containers; service names resolve to them
as on compose's network (tests/deploy/runtime/sitecustomize.py), and the processes cannot import anything
outside the runtime dependencies. A ``docker`` stand-in (tests/deploy/docker.py) on PATH carries out the
block's ``docker compose up``/``run``/``exec``; every other line runs as written.

It fails when compose loses a variable a service needs, a topic (services do not start without them), a
dependency's healthcheck, or the bootstrap step, and when the README stops matching the stack.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from cxc.infra.embedded import EmbeddedBroker, EmbeddedPostgres, free_port, port_open
from tests.deploy import compose

pytestmark = pytest.mark.deploy

ROOT = compose.ROOT
README = ROOT / "README.md"
SERVICE_PORTS = (8001, 8002, 8003, 8004)


def _stop_recorded(state: Path) -> None:
    pids = [int(line.split()[1]) for line in (state / "pids").read_text().splitlines()] \
        if (state / "pids").exists() else []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 15
        while sig == signal.SIGTERM and time.monotonic() < deadline:
            alive = []
            for pid in pids:
                try:
                    os.killpg(pid, 0)
                    alive.append(pid)
                except ProcessLookupError:
                    pass
            if not alive:
                return
            time.sleep(0.2)


@pytest.fixture
def stack_state():
    """Stand-ins for the infrastructure containers, and the state directory of the docker stand-in."""
    busy = [p for p in SERVICE_PORTS if port_open(p)]
    if busy:
        pytest.fail(f"ports {busy} are taken (a `cxc run`?): compose publishes the services on 8001-8004")
    # Outside pytest's tmp root, which pytest resets to 0700 (the PostgreSQL system user must get in).
    state = Path(tempfile.mkdtemp(prefix="cxc-compose-"))
    os.chmod(state, 0o755)
    pg = EmbeddedPostgres(state / "pgdata", free_port(), fast_unsafe=True)
    pg.start()
    broker = EmbeddedBroker(free_port(), state / "broker.log")
    try:
        # Like the postgres image: the superuser trusts local tools, everybody else logs in with a password.
        hba = pg.data_dir / "pg_hba.conf"
        hba.write_text("host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        asyncio.run(_reload(pg.dsn))
        broker.start()
        (state / "infra.json").write_text(json.dumps({
            "postgres_port": pg.port, "postgres_admin_dsn": pg.dsn, "kafka_port": broker.port,
            "smtp_port": free_port(),
        }))
        bin_dir = state / "bin"
        bin_dir.mkdir()
        shim = bin_dir / "docker"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ROOT / "tests/deploy/docker.py"}" "$@"\n')
        shim.chmod(0o755)
        yield state
    finally:
        _stop_recorded(state)
        broker.stop()
        pg.stop()
        shutil.rmtree(state, ignore_errors=True)


async def _reload(dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


def _host_env(state: Path) -> dict[str, str]:
    """An operator's shell: no CXC_* of the test run, the docker stand-in first on PATH."""
    keep = {k: v for k, v in os.environ.items()
            if k in ("HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "CXC_DEPLOY_IMAGE_BIN")}
    return {**keep, "PATH": f"{state / 'bin'}:/usr/local/bin:/usr/bin:/bin", "CXC_DEPLOY_STATE": str(state)}


def _logs(state: Path) -> str:
    out = []
    for log in sorted((state / "logs").glob("*.log")) if (state / "logs").exists() else []:
        out.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]))
    return "\n".join(out)


def _mails(state: Path) -> list[email.message.EmailMessage]:
    folder = state / "mail"
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(folder.glob("*.eml"))] if folder.exists() else []


def _json_documents(text: str) -> list:
    """The JSON documents curl printed one after another (without newlines between them)."""
    decoder, found, i = json.JSONDecoder(), [], 0
    while (i := text.find("{", i)) != -1:
        doc, i = decoder.raw_decode(text, i)
        found.append(doc)
    return found


def _later(state: Path, command: str) -> subprocess.CompletedProcess:
    """A later command in the operator's shell, with the variables the README exported."""
    return subprocess.run(["bash", "-c", f'source "$CXC_DEPLOY_STATE/exports.sh"\n{command}'], cwd=ROOT,
                          env=_host_env(state), capture_output=True, text=True, timeout=120)


def test_readme_compose_section_from_up_to_the_first_registration(stack_state):
    state = stack_state
    block = compose.readme_compose_block(README.read_text())
    # The block as written; afterwards hand the coordinator key to the checks below.
    script = (f'set -euo pipefail\n{block}\nprintf %s "$COORDINATOR_KEY" > "$CXC_DEPLOY_STATE/coordinator.key"\n'
              'export -p > "$CXC_DEPLOY_STATE/exports.sh"\n')
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, env=_host_env(state), capture_output=True, text=True,
                          timeout=420)
    assert done.returncode == 0, f"README block failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{_logs(state)}"
    key = (state / "coordinator.key").read_text()
    assert key.startswith("cxc_"), done.stderr

    registered = _json_documents(done.stdout)
    assert any(r.get("name") == "Score Digital" and r.get("cluster_id") == "mazovia-ict" for r in registered), \
        done.stdout

    # The registration reaches reporting's scoreboard, asked with the coordinator key.
    deadline, board = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        r = httpx.get("http://localhost:8004/v1/kpis", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert r.status_code == 200, r.text
        board = r.json()
        if board["participants"]["total"] >= 1:
            break
        time.sleep(0.5)
    assert board["participants"]["total"] == 1, f"{board}\n{_logs(state)}"
    assert board["participants"]["by_cluster"].get("mazovia-ict") == 1, board

    # The confirmation e-mail reached the SMTP server over STARTTLS with the login compose configures.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(m["To"] and "daniel@score.example" in m["To"] for m in _mails(state)):
        time.sleep(0.5)
    mails = [m for m in _mails(state) if "daniel@score.example" in (m["To"] or "")]
    assert mails, f"no e-mail to daniel@score.example\n{_logs(state)}"
    assert "registration is confirmed" in mails[0]["Subject"]

    # Topics exist as compose's topic-init job created them: all of the registry, kept forever.
    described = _later(state, "docker compose run --rm -T registration cxc topics describe --json")
    assert described.returncode == 0, described.stdout + described.stderr
    rows = [json.loads(line) for line in described.stdout.splitlines() if line.startswith("{")]
    assert rows and all(r["retention"] == "forever" and r["state"] == "ok" for r in rows), rows

    # Bootstrap is idempotent: a second run issues no key and says where rotation is.
    again = _later(state, "docker compose run --rm -T registration cxc admin init --programme EXCITE "
                          "--coordinator-cluster silicon-saxony")
    assert again.returncode == 0 and again.stdout == "", again.stderr
    assert "a coordinator key already exists" in again.stderr
