"""``cxc run``: the whole system on one machine, with nothing but Python.

Starts embedded PostgreSQL and the embedded Kafka-API broker (unless ``CXC_DATABASE_URL`` /
``CXC_KAFKA_BOOTSTRAP`` point at real ones), creates the topics, migrates and seeds, then runs the four
services as separate processes under a supervisor that restarts a crashed one with backoff. Prints the
URLs and dev API keys (also written to ``.cxc/dev.json``) and stops everything on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table

from shared import keysigning
from shared.db import create_pool, migrate
from shared.events.topics import topic_specs
from cxc.infra.embedded import EmbeddedBroker, EmbeddedPostgres, free_port, port_open
from shared.messaging.kafka import ensure_topics
from shared.messaging.namespace import Namespace
from shared.retry import Backoff, RetryPolicy

# A crashed service comes back after 1, 2, 4 … 30 s (upper-half jitter), counted again after a minute up.
RESTART_RETRY = RetryPolicy(base_s=1.0, cap_s=30.0, jitter=0.5)

SERVICES = ("registration", "matchmaking", "notifications", "reporting")


async def replay_outboxes(conn) -> int:
    """The embedded broker starts with an empty log: mark every outbox row unpublished so the relays
    publish the whole retained history again. Consumers deduplicate by event id, so what they had
    already applied changes nothing, and events that were published but not yet consumed when the old
    broker stopped are not lost."""
    schemas = await conn.fetch(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox' AND table_schema = ANY($1)",
        list(SERVICES),
    )
    replayed = 0
    for row in schemas:
        status = await conn.execute(f'UPDATE "{row["table_schema"]}".outbox SET published_at = NULL '
                                    "WHERE published_at IS NOT NULL")
        replayed += int(status.split()[-1])
    if replayed:
        console.print(f"the embedded broker starts empty: re-publishing {replayed} events from the outboxes")
    return replayed
console = Console(stderr=True)

# Secrets `cxc run` generates on first start and keeps in $CXC_HOME/secrets.json (0600), so links signed
# yesterday (unsubscribe) still verify today. A generator returns the variables of one secret (a key pair
# is one secret with two variables). Variables already set in the environment win.
DEV_SECRETS = {
    "internal-token": lambda: {"CXC_INTERNAL_TOKEN": secrets.token_urlsafe(32)},
    "notifications-signing-secret": lambda: {"CXC_NOTIFICATIONS_SIGNING_SECRET": secrets.token_urlsafe(32)},
    # Registration signs API-key events with the private key, every service verifies with the public one.
    "key-signing": lambda: dict(zip((keysigning.PRIVATE_KEY_VAR, keysigning.PUBLIC_KEY_VAR),
                                    keysigning.generate_keypair(), strict=True)),
}


def dev_environment(home: Path, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """What a service started by `cxc run` (or beside it, e.g. a second replica) gets on top of its
    environment: ``CXC_ENV=dev`` unless ``environ`` sets it, and the stack's secrets unless ``environ`` sets
    them. Services started any other way run as prod and must be given real secrets (shared/settings.py)."""
    path = home / "secrets.json"
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {}
    missing = [name for name in DEV_SECRETS if name not in stored]
    if missing:
        for name in missing:
            stored[name] = DEV_SECRETS[name]()
        home.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            json.dump(stored, f, indent=2)
        tmp.replace(path)
    env = {"CXC_ENV": environ.get("CXC_ENV") or "dev"}
    # The embedded broker forgets its log on restart and replay_outboxes re-publishes it from the outboxes:
    # here they are the one durable history, so housekeeping keeps them (and the markers outlive them).
    if not (environ.get("CXC_OUTBOX_RETENTION_DAYS") or environ.get("CXC_PROCESSED_EVENTS_RETENTION_DAYS")):
        env.update(CXC_OUTBOX_RETENTION_DAYS="36500", CXC_PROCESSED_EVENTS_RETENTION_DAYS="36501")
    for variables in stored.values():
        env.update({k: environ.get(k) or v for k, v in variables.items()})
    return env


def service_settings(name: str):
    """The settings class of a service, imported lazily so the CLI starts fast."""
    import importlib

    module = importlib.import_module(f"services.{name}.settings")
    return next(v for k, v in vars(module).items() if k.endswith("Settings") and k != "ServiceSettings")


@dataclass
class Supervised:
    name: str
    cmd: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = 0.0
    backoff: Backoff = field(default_factory=lambda: RESTART_RETRY.backoff())
    history: list[int] = field(default_factory=list)

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.started_at = time.monotonic()

    def poll(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class DevStack:
    def __init__(self, home: Path) -> None:
        self.home = home.resolve()
        self.logs = self.home / "logs"
        self.pg: EmbeddedPostgres | None = None
        self.broker: EmbeddedBroker | None = None
        self.children: list[Supervised] = []
        self._stopping = False
        self.dsn = ""
        self.mail = None

    # --- infrastructure ----------------------------------------------------------------------------

    def start_infra(self) -> tuple[str, str]:
        self.logs.mkdir(parents=True, exist_ok=True)
        dsn = os.environ.get("CXC_DATABASE_URL")
        if not dsn:
            port = int(os.environ.get("CXC_EMBEDDED_PG_PORT", "55432"))
            if port_open(port):
                raise SystemExit(f"port {port} (embedded PostgreSQL) is taken: set CXC_EMBEDDED_PG_PORT")
            console.print(f"[bold]PostgreSQL[/] embedded, data in {self.home / 'pgdata'}")
            self.pg = EmbeddedPostgres(self.home / "pgdata", port)
            dsn = self.pg.start()
        bootstrap = os.environ.get("CXC_KAFKA_BOOTSTRAP")
        if not bootstrap:
            port = int(os.environ.get("CXC_EMBEDDED_BROKER_PORT", "9092"))
            if port_open(port):
                raise SystemExit(f"port {port} (embedded broker) is taken: set CXC_EMBEDDED_BROKER_PORT")
            console.print("[bold]Kafka-API broker[/] embedded (Tansu, memory-only)")
            self.broker = EmbeddedBroker(port, self.logs / "broker.log")
            bootstrap = self.broker.start()
            self._write_broker_pid()
        from services.notifications.adapters.mailcatcher import start_for_devstack

        self.mail = start_for_devstack(self.home)  # sent mail lands in <home>/mail: `cxc mail list`
        if self.mail:
            console.print(f"[bold]SMTP catcher[/] on 127.0.0.1:{self.mail.port}, mail in {self.home / 'mail'}")
        return dsn, bootstrap

    async def prepare(self, dsn: str, bootstrap: str) -> dict[str, str]:
        """Topics, registration schema and seed data, dev keys."""
        from services.registration import seed

        os.environ.update(dev_environment(self.home))  # the dev keys are signed with the stack's signing key
        created = await ensure_topics(bootstrap, topic_specs(), namespace=Namespace.from_env())
        if created:
            console.print(f"created topics: {', '.join(created)}")
        pool = await create_pool(dsn, "registration", max_size=2)
        try:
            await migrate(pool, "registration", "services.registration.migrations")
            if self.broker:
                await replay_outboxes(pool)
            async with pool.acquire() as conn:
                await seed.seed_clusters(conn)
                known = self._read_dev_json().get("keys")
                return await seed.dev_keys(conn, known)
        finally:
            await pool.close()

    async def _refill_broker(self) -> None:
        assert self.broker is not None
        await ensure_topics(self.broker.bootstrap, topic_specs(), namespace=Namespace.from_env())
        conn = await asyncpg.connect(self.dsn)
        try:
            await replay_outboxes(conn)
        finally:
            await conn.close()

    def _write_broker_pid(self) -> None:
        assert self.broker is not None and self.broker.proc is not None
        (self.home / "broker.pid").write_text(str(self.broker.proc.pid))

    def _read_dev_json(self) -> dict:
        path = self.home / "dev.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}

    # --- services ----------------------------------------------------------------------------------

    def start_services(self, dsn: str, bootstrap: str) -> dict[str, str]:
        urls = {}
        # In our own environment too: the settings read below, and every child, see the dev secrets.
        os.environ.update(dev_environment(self.home))
        # Registration's internal listener (contact and data-key lookups): 8011 unless taken or set.
        port = os.environ.get("CXC_REGISTRATION_INTERNAL_PORT") or str(8011 if not port_open(8011) else free_port())
        os.environ["CXC_REGISTRATION_INTERNAL_PORT"] = port
        os.environ.setdefault("CXC_REGISTRATION_URL", f"http://127.0.0.1:{port}")
        self.internal_urls = {"registration": os.environ["CXC_REGISTRATION_URL"]}
        for name in SERVICES:
            settings = service_settings(name)()
            env = {**os.environ, "CXC_DATABASE_URL": dsn, "CXC_KAFKA_BOOTSTRAP": bootstrap, "PYTHONUNBUFFERED": "1"}
            child = Supervised(name, [sys.executable, "-m", f"services.{name}"], env, self.logs / f"{name}.log")
            child.start()
            self.children.append(child)
            urls[name] = f"http://{settings.host}:{settings.port}"
        return urls

    def wait_ready(self, urls: dict[str, str], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        pending = dict(urls)
        with httpx.Client(timeout=3) as http:
            while pending and time.monotonic() < deadline:
                for name, url in list(pending.items()):
                    try:
                        if http.get(f"{url}/readyz").status_code == 200:
                            del pending[name]
                            console.print(f"  [green]✓[/] {name} ready")
                    except httpx.HTTPError:
                        pass
                self.supervise_once()
                time.sleep(0.2)
        if pending:
            names = ", ".join(pending)
            raise SystemExit(f"not ready after {timeout:.0f}s: {names}; see {self.logs}/<service>.log")

    def supervise_once(self) -> None:
        now = time.monotonic()
        for child in self.children:
            code = child.poll()
            if code is None:
                if now - child.started_at > 60:
                    child.backoff.reset()
                continue
            if child.next_start == 0.0:
                child.history.append(code)
                delay = child.backoff.failed()
                child.next_start = now + delay
                console.print(
                    f"[yellow]{child.name} exited with {code}; restarting in {delay:.1f}s[/] "
                    f"(log: {child.log_path})"
                )
            elif now >= child.next_start:
                child.restarts += 1
                child.next_start = 0.0
                child.start()
        if self.broker and self.broker.proc and self.broker.proc.poll() is not None:
            self._restart_broker()

    def _restart_broker(self) -> None:
        """The embedded broker died and its memory-only log with it. Consumers that kept running would
        resume at their old offsets in the new, differently ordered log and skip events, so the services
        are killed first (their state is in PostgreSQL), the broker is refilled from the outboxes, and the
        services start again from the beginning of the new log, deduplicating what they already applied."""
        assert self.broker is not None
        console.print("[yellow]embedded broker exited; its log is gone: restarting it and the services, "
                      "re-publishing the outboxes[/]")
        for child in self.children:
            if child.proc and child.proc.poll() is None:
                child.proc.kill()
                child.proc.wait(10)
        self.broker.start()
        self._write_broker_pid()
        asyncio.run(self._refill_broker())
        for child in self.children:
            child.next_start = 0.0
            child.restarts += 1
            child.start()

    def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        console.print("stopping services…")
        started = time.monotonic()
        for child in self.children:
            if child.proc and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        # One shared deadline: services get 10 s together to shut down gracefully, then are killed
        # (their state is in PostgreSQL; the outbox and dedupe cover anything cut short).
        deadline = started + 10
        for child in self.children:
            child.stop(timeout=max(deadline - time.monotonic(), 0.1))
        console.print(f"  services stopped ({time.monotonic() - started:.1f}s)")
        if self.broker:
            self.broker.stop()
        if self.mail:
            self.mail.stop()
        if self.pg:
            self.pg.stop()
        console.print(f"stopped ({time.monotonic() - started:.1f}s).")

    # --- reporting ---------------------------------------------------------------------------------

    def announce(self, urls: dict[str, str], keys: dict[str, str], dsn: str, bootstrap: str) -> None:
        (self.home / "dev.json").write_text(
            json.dumps({
                "urls": urls, "keys": keys, "database_url": dsn, "kafka_bootstrap": bootstrap,
                "topic_namespace": Namespace.from_env().prefix,
                "internal_urls": getattr(self, "internal_urls", {}),
                # For ops scripts and the chaos tests: where the embedded infrastructure lives.
                "embedded": {
                    "pg_data": str(self.pg.data_dir) if self.pg else None,
                    "pg_port": self.pg.port if self.pg else None,
                    "broker_pid_file": str(self.home / "broker.pid") if self.broker else None,
                },
            }, indent=2)
        )
        table = Table(title="ClusterXchange is running", show_lines=False)
        table.add_column("service")
        table.add_column("url")
        for name, url in urls.items():
            table.add_row(name, url)
        console.print(table)
        keys_table = Table(title="Dev API keys (Authorization: Bearer <key>)")
        keys_table.add_column("who")
        keys_table.add_column("key")
        for who, key in keys.items():
            keys_table.add_row(who, key)
        console.print(keys_table)
        console.print(f"database: {dsn}\nbroker:   {bootstrap}\nwritten to {self.home / 'dev.json'}; "
                      f"logs in {self.logs}. Ctrl-C stops everything.")
        print(json.dumps({"ready": True, "dev_json": str(self.home / "dev.json")}), flush=True)


def run(home: Path) -> int:
    stack = DevStack(home)

    def _terminate(*_):
        raise KeyboardInterrupt

    # SIGINT explicitly too: a process started from a background job inherits SIGINT as ignored, and Python
    # then installs no KeyboardInterrupt handler, so Ctrl-C (or a test's SIGINT) would do nothing.
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        dsn, bootstrap = stack.start_infra()
        stack.dsn = dsn
        keys = asyncio.run(stack.prepare(dsn, bootstrap))
        urls = stack.start_services(dsn, bootstrap)
        stack.wait_ready(urls)
        stack.announce(urls, keys, dsn, bootstrap)
        while True:
            stack.supervise_once()
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    except (asyncpg.PostgresError, OSError, RuntimeError) as exc:
        console.print(f"[red]cannot start: {exc}[/]")
        return 1
    finally:
        stack.stop()
