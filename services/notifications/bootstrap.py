"""Composition root of the notifications service."""

from __future__ import annotations

from services.notifications.entrypoints.api import router
from services.notifications.handlers import HANDLERS
from services.notifications.settings import NotificationsSettings
from shared.service import ConsumerSpec, Service


def build(settings: NotificationsSettings | None = None) -> Service:
    return Service(
        settings=settings or NotificationsSettings(),
        migrations="services.notifications.migrations",
        routers=[router],
        consumers=[ConsumerSpec("notifications-inbox", ["cxc.participants"], HANDLERS)],
        publishes=True,
        title="ClusterXchange notifications",
    )
