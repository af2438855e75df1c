"""Background loops of the registration service."""

from __future__ import annotations

import logging

from services.registration.adapters import repository
from shared.periodic import run_periodically

log = logging.getLogger(__name__)


async def forget_old_idempotency_keys(service) -> None:
    """Stored responses are kept for ``idempotency_ttl_hours``: long enough for any partner's retries."""

    async def sweep() -> None:
        async with service.pool.acquire() as conn:
            forgotten = await repository.forget_idempotency_keys(conn, service.settings.idempotency_ttl_hours)
        if forgotten:
            log.info("forgot %d idempotency keys", forgotten)

    await run_periodically("idempotency-sweep", sweep, interval_s=600)
