"""Composition root of the registration service."""

from __future__ import annotations

from services.registration.entrypoints import keys
from services.registration.entrypoints.api import internal, router
from services.registration.entrypoints.workers import expired_idempotency_keys
from services.registration.settings import RegistrationSettings
from shared.service import Service


def build(settings: RegistrationSettings | None = None) -> Service:
    settings = settings or RegistrationSettings()
    return Service(
        settings=settings,
        migrations="services.registration.migrations",
        routers=[router, keys.router],
        internal_routers=[internal],
        publishes=True,
        issues_keys=True,
        housekeeping=[expired_idempotency_keys(settings)],
        title="ClusterXchange registration (ingress API)",
    )
