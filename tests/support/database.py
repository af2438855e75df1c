"""Fresh PostgreSQL databases: one per test (``database_url`` in tests/conftest.py) or one per module for a
stack its tests share."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from shared.db import create_pool, migrate


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` on the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def create_database(server_url: str) -> str:
    """A fresh, empty database on the server; its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server_url, name)


@pytest.fixture(scope="module")
async def module_database_url(pg_server_url) -> str:
    """A fresh database for a module whose tests share one stack (``database_url`` is per test)."""
    return await create_database(pg_server_url)


@contextlib.asynccontextmanager
async def kernel_pool(database_url: str, schema: str, *ddl: str, max_size: int = 4) -> AsyncIterator[asyncpg.Pool]:
    """A pool whose connections work in ``schema``, with the kernel's own tables migrated there (outbox,
    processed-event markers, ...) and then ``ddl`` run: what a test of the kernel's machinery needs in place
    of a service's schema."""
    pool = await create_pool(database_url, schema, max_size=max_size)
    try:
        await migrate(pool, schema, None)
        for statement in ddl:
            await pool.execute(statement)
        yield pool
    finally:
        await pool.close()
