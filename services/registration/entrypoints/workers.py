"""Background loops of the registration service."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from services.registration.adapters import repository

log = logging.getLogger(__name__)


async def forget_old_idempotency_keys(service) -> None:
    """Stored responses are kept for ``idempotency_ttl_hours``: long enough for any partner's retries."""
    while True:
        try:
            async with service.pool.acquire() as conn:
                forgotten = await repository.forget_idempotency_keys(conn, service.settings.idempotency_ttl_hours)
            if forgotten:
                log.info("forgot %d idempotency keys", forgotten)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("idempotency sweep failed (%s); trying again later", exc)
        await asyncio.sleep(600)
