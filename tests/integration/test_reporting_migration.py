"""Migration 002 keeps the participants a 001-era projection had counted."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from services.reporting.adapters import projection
from services.reporting.domain.kpis import scoreboard
from shared import db

pytestmark = pytest.mark.integration


async def test_participants_counted_before_the_facts_table_are_still_counted(database_url):
    pool = await db.create_pool(database_url, "reporting")
    try:
        async with pool.acquire() as conn:
            await conn.execute(resources.files("services.reporting.migrations").joinpath("001_reporting.sql").read_text())
            await conn.execute(
                """INSERT INTO participants (id, cluster_id, kind, country, registered_at, erased) VALUES
                   ('00000000-0000-0000-0000-000000000001', 'gaia', 'sme', 'ES', '2025-03-01T10:00:00Z', false),
                   ('00000000-0000-0000-0000-000000000002', 'gaia', 'research', 'FR', '2025-04-01T10:00:00Z', true)""")
            await conn.execute(resources.files("services.reporting.migrations").joinpath("002_facts.sql").read_text())
            book = await projection.load(conn)
        board = scoreboard(book)
        assert board["participants"] == {"total": 2, "by_kind": {"research": 1, "sme": 1},
                                         "by_country": {"ES": 1, "FR": 1}, "by_cluster": {"gaia": 2}}
        data = json.loads(await pool.fetchval("SELECT data FROM facts WHERE id = '00000000-0000-0000-0000-000000000001'"))
        assert data["registered_at"] == "2025-03-01T10:00:00.000000+00:00"
    finally:
        await pool.close()
