"""Infrastructure for the tests, chosen as the brief says: explicit env vars → testcontainers when a
Docker engine answers → the embedded default (PostgreSQL wheel, Tansu broker)."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from shared.infra.embedded import EmbeddedBroker, EmbeddedPostgres, free_port
from tests.helpers import TEST_SECRETS

# Services default to CXC_ENV=prod and refuse to start without real secrets; the tests run as "test".
os.environ["CXC_ENV"] = "test"
for _name, _value in TEST_SECRETS.items():
    os.environ.setdefault(_name, _value)


def docker_engine_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=2)
        client.ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def docker_available() -> bool:
    return docker_engine_answers()


@pytest.fixture(scope="session")
def pg_server_url(docker_available) -> Iterator[str]:
    """A PostgreSQL server the tests may create databases on."""
    if url := os.environ.get("CXC_TEST_DATABASE_URL"):
        yield url
        return
    if docker_available:
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:17", driver=None) as pg:
            yield pg.get_connection_url()
        return
    tmp = Path(tempfile.mkdtemp(prefix="cxc-test-pg-"))
    pg = EmbeddedPostgres(tmp / "data", free_port(), fast_unsafe=True)
    pg.start()
    try:
        yield pg.dsn
    finally:
        pg.stop()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
async def database_url(pg_server_url) -> str:
    """A fresh, empty database per test: tests never see each other's rows."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(pg_server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_database(pg_server_url, name)


@pytest.fixture(scope="session")
def external_bootstrap(docker_available) -> Iterator[str | None]:
    if url := os.environ.get("CXC_TEST_KAFKA_BOOTSTRAP"):
        yield url
        return
    if docker_available:
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    yield None


@pytest.fixture
def embedded_broker(tmp_path) -> Iterator[EmbeddedBroker]:
    """A broker of the test's own (fresh log), for tests that stop, pause or restart it."""
    broker = EmbeddedBroker(free_port(), tmp_path / "broker.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_bootstrap(external_bootstrap, tmp_path) -> Iterator[str]:
    """A Kafka-API broker. Embedded brokers are per test, so topics start empty."""
    if external_bootstrap:
        yield external_bootstrap
        return
    broker = EmbeddedBroker(free_port(), tmp_path / "broker.log")
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
