"""Shared by the ops tests (tests/*/test_ops_*.py): a registration service in-process, a producer."""

from __future__ import annotations

import asyncio
import io
import json
from contextlib import asynccontextmanager

import httpx
from aiokafka import AIOKafkaProducer

from services.registration import seed
from services.registration.bootstrap import build
from services.registration.settings import RegistrationSettings
from shared import auth as api_keys
from shared.events import encode
from shared.messaging.namespace import NO_NAMESPACE, Namespace
from cxc.ops.render import Output

BODY = {
    "kind": "sme", "name": "Score Digital", "country": "PL", "sectors": ["J62.01"], "keywords": ["mobility"],
    "offers": [{"type": "technology", "text": "V2X platform"}], "requests": [],
    "contact": {"name": "Daniel Hekman", "email": "daniel@score.example"}, "consent": {"data_processing": True},
}


@asynccontextmanager
async def registration(database_url: str, kafka_bootstrap: str):
    """The registration service (with its outbox relay) and an HTTP client holding a partner key."""
    service = build(RegistrationSettings(
        database_url=database_url, kafka_bootstrap=kafka_bootstrap, relay_poll_interval_s=0.1,
    ))
    app = service.app()
    await service.start()
    try:
        async with service.pool.acquire() as conn:
            await seed.seed_clusters(conn)
            _, key = await api_keys.issue_key(conn, "mazovia-ict", "partner", None, source="/test")
            await conn.execute("DELETE FROM outbox")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            client.headers["Authorization"] = f"Bearer {key}"
            client.pool = service.pool
            yield client
    finally:
        await asyncio.wait_for(service.stop(), 15)


async def produce(bootstrap: str, envelopes, *, linger_ms: int = 50, namespace: Namespace = NO_NAMESPACE) -> None:
    """Produce envelopes as the relay does (in ``namespace``); a linger makes the producer batch them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=linger_ms)
    await producer.start()
    try:
        sends = []
        for env in envelopes:
            key, value, headers = encode(env)
            sends.append(await producer.send(namespace.topic(env.topic.name), value, key=key, headers=headers))
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


class Captured(Output):
    """JSON-lines output kept in memory."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.errors = io.StringIO()
        super().__init__(json_lines=True, stream=self.buffer, err=self.errors)

    @property
    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines()]
