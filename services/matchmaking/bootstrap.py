"""Composition root of the matchmaking service."""

from __future__ import annotations

import logging

from services.matchmaking.entrypoints.api import router
from services.matchmaking.handlers import ACTIVITY_HANDLERS, expire_due, profile_handlers
from services.matchmaking.settings import MatchmakingSettings
from shared.periodic import run_periodically
from shared.privacy import remote_keyring
from shared.service import ConsumerSpec, Service

log = logging.getLogger(__name__)


async def expiry_sweeper(service: Service) -> None:
    """Expired requests stop blocking: each sweep turns due pending requests into meeting.expired."""

    async def sweep() -> None:
        while (n := await expire_due(service.pool)) > 0:
            log.info("expired %d meeting requests", n)

    await run_periodically("meeting-request-expiry", sweep, interval_s=service.settings.expiry_interval_s,
                           max_backoff_s=service.settings.expiry_interval_s)


def build(settings: MatchmakingSettings | None = None) -> Service:
    settings = settings or MatchmakingSettings()
    return Service(
        settings=settings,
        migrations="services.matchmaking.migrations",
        routers=[router],
        consumers=[
            ConsumerSpec("matchmaking-profiles", ["cxc.participants"], profile_handlers(remote_keyring(settings))),
            ConsumerSpec("matchmaking-activities", ["cxc.activities"], ACTIVITY_HANDLERS),
        ],
        publishes=True,
        workers=[("meeting-request-expiry", expiry_sweeper)],
        title="ClusterXchange matchmaking",
    )
