"""Kafka client factories and the timeouts that bound every broker call.

The embedded broker (Tansu) rejects InitProducerId, so producers are plain at-least-once producers
(acks=all, no idempotence): exactly-once effects come from the outbox and the idempotent consumers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import TopicAlreadyExistsError

from shared.messaging.namespace import NO_NAMESPACE, Namespace

log = logging.getLogger(__name__)
T = TypeVar("T")


class BrokerTimeout(RuntimeError):
    """A broker call did not finish within its bound."""


async def bounded(awaitable: Awaitable[T], timeout: float, what: str) -> T:
    """Await at most ``timeout`` seconds. Unlike ``asyncio.wait_for`` this never waits for the inner call
    to acknowledge its cancellation, which a client stuck on a dead broker may never do."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_consume_result)
        raise BrokerTimeout(f"{what} did not finish within {timeout:.1f}s")
    return task.result()


def _consume_result(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()


def new_producer(bootstrap: str, client_id: str, timeout_s: float) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        request_timeout_ms=int(timeout_s * 1000),
        retry_backoff_ms=200,
    )


async def close_quietly(client, timeout_s: float, what: str) -> None:
    """Stop a client without letting a dead broker hang shutdown."""
    closer = client.stop if hasattr(client, "stop") else client.close
    try:
        await bounded(closer(), timeout_s, f"{what} stop")
    except Exception as exc:  # shutting down: report and go on
        log.warning("%s did not stop cleanly: %s", what, exc)


async def ensure_topics(
    bootstrap: str, topics: Iterable[tuple[str, int]], timeout_s: float = 15.0,
    configs: Mapping[str, Mapping[str, str]] | None = None, namespace: Namespace = NO_NAMESPACE,
) -> list[str]:
    """Create missing topics (name, partitions) under ``namespace``; return those created (plain names). A
    topic of the registry gets the registry's configs (retention) unless ``configs`` names others; existing
    topics are left as they are."""
    if configs is None:
        from shared.events.topics import topic_configs

        configs = topic_configs()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    await bounded(admin.start(), timeout_s, "admin.start()")
    created = []
    try:
        existing = namespace.locals(await bounded(admin.list_topics(), timeout_s, "list_topics()"))
        for name, partitions in topics:
            if name in existing:
                continue
            try:
                await bounded(
                    admin.create_topics([NewTopic(namespace.topic(name), num_partitions=partitions,
                                                  replication_factor=1, topic_configs=dict(configs.get(name, {})))]),
                    timeout_s,
                    f"create_topics({namespace.topic(name)})",
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass
    finally:
        await close_quietly(admin, timeout_s, "admin")
    return created


async def broker_reachable(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True when the broker answers a metadata request (a TCP accept alone proves nothing)."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await bounded(client.bootstrap(), timeout_s, "bootstrap")
        await bounded(client.fetch_all_metadata(), timeout_s, "metadata")
        return True
    except Exception:
        return False
    finally:
        await close_quietly(client, timeout_s, "metadata client")


class BrokerMonitor:
    """The service's one long-lived metadata client, probing the broker in the background.

    ``/readyz`` reads the last verdict instead of opening a client per probe: probes stay cheap and never
    wait on a dead broker, and a load balancer probing every second adds no connections. The client is
    created once (``start``, from the service's lifespan) and reconnects by itself: a failed metadata call
    is retried on the next round over fresh connections to the known brokers (or the bootstrap list, until
    one answered). ``clients_created`` counts the clients, so tests can hold it to one.
    """

    def __init__(self, bootstrap: str, *, timeout_s: float = 2.0, interval_s: float = 2.0) -> None:
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self.interval_s = interval_s
        self.clients_created = 0
        self.reachable: bool | None = None  # None: not probed yet
        self.down_since: float | None = None  # wall-clock time of the first failed probe of this outage
        self.last_error: str | None = None
        self._client: AIOKafkaClient | None = None
        self._bootstrapped = False

    def start(self) -> None:
        if self._client is None:
            self._client = AIOKafkaClient(
                bootstrap_servers=self.bootstrap, client_id="cxc-broker-monitor",
                request_timeout_ms=int(self.timeout_s * 1000),
            )
            self.clients_created += 1

    async def run(self) -> None:
        """Probe every ``interval_s`` until cancelled; never raises otherwise."""
        self.start()
        while True:
            await self.probe()
            await asyncio.sleep(self.interval_s)

    async def probe(self) -> bool:
        assert self._client is not None, "start() creates the client"
        try:
            if not self._bootstrapped:
                await bounded(self._client.bootstrap(), self.timeout_s, "broker monitor bootstrap")
                self._bootstrapped = True
            await bounded(self._client.fetch_all_metadata(), self.timeout_s, "broker monitor metadata")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.reachable is not False:
                log.warning("broker %s unreachable: %s", self.bootstrap, exc)
                self.down_since = time.time()
            self.reachable, self.last_error = False, f"{type(exc).__name__}: {exc}"[:200]
            return False
        if self.reachable is False:
            log.info("broker %s reachable again", self.bootstrap)
        self.reachable, self.down_since, self.last_error = True, None, None
        return True

    def describe(self) -> str:
        """``ok``, or what is wrong, for /readyz."""
        if self.reachable:
            return "ok"
        if self.reachable is None:
            return "not probed yet"
        since = datetime.fromtimestamp(self.down_since or time.time(), UTC).isoformat(timespec="seconds")
        return f"unreachable since {since}"

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            self._bootstrapped = False
            await close_quietly(client, self.timeout_s, "broker monitor")
