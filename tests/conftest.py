"""Infrastructure for the tests, chosen as the brief says: explicit env vars → testcontainers when a
Docker engine answers → the embedded default (PostgreSQL wheel, Tansu broker).

With env vars or testcontainers, ONE PostgreSQL server and ONE broker serve the whole session (CI proves
that path with ``make test-shared``). Tests stay apart anyway: each gets a database of its own
(``database_url``) and, on a shared broker, a topic namespace of its own (``topic_namespace``: its topics
and consumer groups are invisible to every other test). A test that needs a fresh log, or stops, pauses or
restarts the broker, takes a private one (``embedded_broker``).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cxc.infra.embedded import EmbeddedBroker, EmbeddedPostgres, free_port
from shared.messaging.namespace import ENV_VAR as NAMESPACE_ENV_VAR
from shared.messaging.namespace import NO_NAMESPACE, Namespace
from tests.support.secrets import TEST_SECRETS
from tests.support.database import create_database

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

        from tests.support.containers import compose_image

        with PostgresContainer(compose_image("postgres"), driver=None) as pg:
            yield pg.get_connection_url()
        return
    tmp = Path(tempfile.mkdtemp(prefix="cxc-test-pg-"))
    pg = EmbeddedPostgres(tmp / "data", free_port(), fast_unsafe=True)
    pg.start()
    try:
        yield pg.dsn
    finally:
        pg.stop()


@pytest.fixture
async def database_url(pg_server_url) -> str:
    """A fresh, empty database per test: tests never see each other's rows."""
    return await create_database(pg_server_url)


@pytest.fixture(scope="session")
def external_bootstrap(docker_available) -> Iterator[str | None]:
    if url := os.environ.get("CXC_TEST_KAFKA_BOOTSTRAP"):
        yield url
        return
    if docker_available:
        from tests.support.containers import ApacheKafkaContainer, compose_image

        with ApacheKafkaContainer(compose_image("kafka")) as kafka:
            yield kafka.get_bootstrap_server()
        return
    yield None


@pytest.fixture
def topic_namespace(external_bootstrap, monkeypatch) -> Namespace:
    """The test's topic namespace: a fresh one on a broker shared by the session, none on a private broker.

    Also put in ``CXC_TOPIC_NAMESPACE`` for the test's duration, so every service settings object the test
    builds uses it. Tests that talk to Kafka themselves map names with it (``topic_namespace.topic(...)``)
    and pass it to ``ConsumerRunner``/``OutboxRelay``/``ensure_topics`` and the ops functions."""
    namespace = new_namespace(external_bootstrap)
    if namespace:
        monkeypatch.setenv(NAMESPACE_ENV_VAR, namespace.prefix)
    return namespace


@pytest.fixture(scope="module")
def module_topic_namespace(external_bootstrap) -> Namespace:
    """The same for a stack a whole module shares: give it to the stack's settings (``topic_namespace=``)."""
    return new_namespace(external_bootstrap)


def new_namespace(shared_broker: str | None) -> Namespace:
    return Namespace(f"t{uuid.uuid4().hex[:12]}") if shared_broker else NO_NAMESPACE


@pytest.fixture(scope="module")
def stack_infra(external_bootstrap, request) -> dict[str, str]:
    """Environment for a `cxc run` stack of the e2e tests (``Stack.extra_env``). With infrastructure shared
    by the session (env vars or testcontainers), the stack uses it, as an operator's CXC_DATABASE_URL and
    CXC_KAFKA_BOOTSTRAP would: a fresh database and a topic namespace of its own. Otherwise nothing: `cxc
    run` starts its own embedded PostgreSQL and broker, as `make run` does."""
    if not external_bootstrap:
        return {}
    import asyncio

    server = request.getfixturevalue("pg_server_url")
    return {"CXC_DATABASE_URL": asyncio.run(create_database(server)), "CXC_KAFKA_BOOTSTRAP": external_bootstrap,
            NAMESPACE_ENV_VAR: new_namespace(external_bootstrap).prefix}


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
def kafka_bootstrap(external_bootstrap, topic_namespace, tmp_path) -> Iterator[str]:
    """A Kafka-API broker: the session's shared one (the test works in its own ``topic_namespace``), or a
    private embedded one. Either way the test's topics start empty."""
    if external_bootstrap:
        yield external_bootstrap
        return
    broker = EmbeddedBroker(free_port(), tmp_path / "broker.log")
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
