"""Composition root of the reporting service."""

from __future__ import annotations

from services.reporting.entrypoints import dashboard, signin, stream
from services.reporting.entrypoints.api import router
from services.reporting.handlers import HANDLERS, apply_batch
from services.reporting.rebuild import projected_topics
from services.reporting.settings import ReportingSettings
from shared.service import ConsumerSpec, Service


def build(settings: ReportingSettings | None = None) -> Service:
    return Service(
        settings=settings or ReportingSettings(),
        migrations="services.reporting.migrations",
        routers=[router, dashboard.router, signin.router, stream.router],
        consumers=[ConsumerSpec("reporting-kpis", projected_topics(), HANDLERS, batch=True, batch_handler=apply_batch)],
        title="ClusterXchange reporting",
    )
