"""Composition root of the matchmaking service."""

from __future__ import annotations

from services.matchmaking.entrypoints.api import router
from services.matchmaking.handlers import HANDLERS
from services.matchmaking.settings import MatchmakingSettings
from shared.service import ConsumerSpec, Service


def build(settings: MatchmakingSettings | None = None) -> Service:
    return Service(
        settings=settings or MatchmakingSettings(),
        migrations="services.matchmaking.migrations",
        routers=[router],
        consumers=[ConsumerSpec("matchmaking-profiles", ["cxc.participants"], HANDLERS)],
        publishes=True,
        title="ClusterXchange matchmaking",
    )
