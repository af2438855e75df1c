"""Composition root of the reporting service."""

from __future__ import annotations

from services.reporting.entrypoints.api import router
from services.reporting.handlers import HANDLERS
from services.reporting.settings import ReportingSettings
from shared.events.topics import TOPICS
from shared.service import ConsumerSpec, Service


def build(settings: ReportingSettings | None = None) -> Service:
    return Service(
        settings=settings or ReportingSettings(),
        migrations="services.reporting.migrations",
        routers=[router],
        consumers=[ConsumerSpec("reporting-kpis", [t.name for t in TOPICS.values()], HANDLERS)],
        title="ClusterXchange reporting",
    )
