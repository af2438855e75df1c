"""Composition root of the notifications service."""

from __future__ import annotations

from services.notifications.entrypoints.api import dev_router, router
from services.notifications.entrypoints.senders import digest_worker, email_worker, webhook_worker
from services.notifications.entrypoints.webhooks import router as webhooks_router
from services.notifications.handlers import CONSUMED_TOPICS, inbox_handlers
from services.notifications.settings import NotificationsSettings
from shared.privacy import remote_keyring
from shared.service import ConsumerSpec, Service


def build(settings: NotificationsSettings | None = None) -> Service:
    settings = settings or NotificationsSettings()
    return Service(
        settings=settings,
        migrations="services.notifications.migrations",
        routers=[router, webhooks_router, *([dev_router] if settings.env in ("dev", "test") else [])],
        consumers=[ConsumerSpec("notifications-inbox", CONSUMED_TOPICS, inbox_handlers(remote_keyring(settings)))],
        publishes=True,
        workers=[("email-sender", email_worker), ("webhook-sender", webhook_worker),
                 ("requests-digest", digest_worker)],
        title="ClusterXchange notifications",
    )
