"""A small notifications harness for tests of sending and of the HTTP API: real PostgreSQL (the service's
migrations), the real sender loops and FastAPI app, and an in-memory stand-in for registration's contact
lookup. No broker: the app is served without its lifespan and the senders are drained by hand."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import httpx

from services.notifications.adapters import store
from services.notifications.adapters.contacts import Contact
from services.notifications.bootstrap import build
from services.notifications.entrypoints.senders import EmailSender, WebhookSender
from services.notifications.settings import NotificationsSettings
from shared import auth as api_keys
from shared.db import create_pool, migrate


class StaticContacts:
    """Registration's contact lookup, as a dict: participant id -> Contact (None: erased or unknown)."""

    def __init__(self) -> None:
        self.people: dict[str, Contact] = {}

    def add(self, email: str, *, name: str = "Anna Nowak", organisation: str = "Score Digital",
            cluster_id: str = "mazovia-ict", language: str = "en", marketing: bool = False) -> str:
        pid = str(uuid.uuid4())
        self.people[pid] = Contact(pid, cluster_id, organisation, name, email, language, marketing)
        return pid

    async def get(self, participant_id: str) -> Contact | None:
        return self.people.get(participant_id)

    async def close(self) -> None:
        pass


@dataclass
class Harness:
    settings: NotificationsSettings
    pool: object
    contacts: StaticContacts = field(default_factory=StaticContacts)
    keys: dict[str, str] = field(default_factory=dict)

    def with_settings(self, **overrides) -> NotificationsSettings:
        """Validated, unlike model_copy: a test cannot build settings the service would refuse."""
        return NotificationsSettings(**(self.settings.model_dump() | overrides))

    def email_sender(self, **overrides) -> EmailSender:
        return EmailSender(self.pool, self.with_settings(**overrides), self.contacts)

    def webhook_sender(self, **overrides) -> WebhookSender:
        return WebhookSender(self.pool, self.with_settings(**overrides))

    async def plan(self, recipient: str, template: str = "exchange_cancelled", context: dict | None = None,
                   channel: str = "email", cluster_id: str | None = None) -> str:
        event_id = str(uuid.uuid4())
        async with self.pool.acquire() as conn:
            assert await store.plan(conn, event_id=event_id, event_type="exchange.cancelled", recipient=recipient,
                                    channel=channel, template=template, context=context or {}, cluster_id=cluster_id)
        return event_id

    async def rows(self):
        return await self.pool.fetch("SELECT * FROM deliveries ORDER BY created_at, id")

    async def events(self) -> list[dict]:
        return [json.loads(r["envelope"]) for r in await self.pool.fetch(
            "SELECT envelope FROM outbox WHERE event_type LIKE 'notification.%' ORDER BY position")]

    async def key(self, who: str, cluster: str, role: str) -> dict:
        """Authorization header of a fresh API key, stored in notifications' key replica."""
        if who not in self.keys:
            async with self.pool.acquire() as conn, conn.transaction():
                self.keys[who] = (await api_keys.issue_key(conn, cluster, role, None, source="/test"))[1]
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def api(self) -> httpx.AsyncClient:
        service = build(self.settings)
        service.pool = self.pool
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app()), base_url="http://notifications")


async def harness(database_url: str, **settings) -> Harness:
    s = NotificationsSettings(**{
        "database_url": database_url, "smtp_tls": "none", "lease_s": 4.0, "retry_base_s": 0.2,
        "poll_interval_s": 0.05, "smtp_timeout_s": 1.5, "contact_timeout_s": 0.4, "webhook_timeout_s": 1.5,
    } | settings)
    pool = await create_pool(database_url, "notifications", max_size=6)
    await migrate(pool, "notifications", "services.notifications.migrations")
    return Harness(settings=s, pool=pool)
