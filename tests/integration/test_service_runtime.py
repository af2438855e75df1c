"""The service shape: a worker that dies takes the process down (non-zero) instead of leaving it half-alive."""

import asyncio

import pytest

from services.reporting.settings import ReportingSettings
from shared.service import Service

pytestmark = pytest.mark.integration


async def test_a_failing_worker_marks_the_service_fatal_and_unready(database_url, kafka_bootstrap):
    async def broken(service):
        await asyncio.sleep(0.05)
        raise RuntimeError("sweeper crashed")

    service = Service(
        settings=ReportingSettings(database_url=database_url, kafka_bootstrap=kafka_bootstrap),
        migrations="services.reporting.migrations",
        workers=[("sweeper", broken)],
    )
    await service.start()
    try:
        for _ in range(100):
            if service.fatal is not None:
                break
            await asyncio.sleep(0.02)
        assert isinstance(service.fatal, RuntimeError)
    finally:
        await service.stop()
