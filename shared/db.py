"""PostgreSQL plumbing: one pool per service, confined to the service's own schema, and migrations.

Migrations are plain SQL files (``NNN_name.sql``) applied in order at start-up by a tiny runner: each
file runs in its own transaction together with its row in ``schema_migrations``, under an advisory lock
so that replicas starting together apply each file once. A changed checksum of an applied file stops
start-up: published migrations are never edited, only added. We chose this over Alembic because the
services use asyncpg with hand-written SQL and have no ORM metadata to diff against.
"""

from __future__ import annotations

import hashlib
import logging
import re
from importlib import resources
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
SHARED_MIGRATIONS = "shared.migrations"


class MigrationError(RuntimeError):
    pass


def _quote_ident(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"unsafe identifier {name!r}")
    return f'"{name}"'


async def create_pool(dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections see only ``schema`` (search_path), created if missing."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote_ident(schema)}")
    finally:
        await conn.close()
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": schema},
        command_timeout=30,
    )


def _migration_files(package: str) -> list[tuple[str, str]]:
    root = resources.files(package)
    files = sorted(p.name for p in root.iterdir() if _NAME.match(p.name))
    return [(name, root.joinpath(name).read_text()) for name in files]


async def migrate(pool: asyncpg.Pool, schema: str, package: str | None) -> list[str]:
    """Apply the shared runtime migrations, then the service's own (if any); return the names applied now."""
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        lock_key = int.from_bytes(hashlib.sha256(f"migrate:{schema}".encode()).digest()[:8], "big", signed=True)
        await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       name text PRIMARY KEY,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")}
            sources = [(SHARED_MIGRATIONS, "shared/")] + ([(package, "")] if package else [])
            for source, prefix in sources:
                for filename, sql in _migration_files(source):
                    name = prefix + filename
                    checksum = hashlib.sha256(sql.encode()).hexdigest()
                    if name in done:
                        if done[name] != checksum:
                            raise MigrationError(
                                f"migration {name} in schema {schema} changed after it was applied; "
                                "add a new migration instead of editing an applied one"
                            )
                        continue
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", name, checksum
                        )
                    applied_now.append(name)
                    log.info("applied migration %s to schema %s", name, schema)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)
    return applied_now


def package_dir(package: str) -> Path:
    return Path(str(resources.files(package)))
