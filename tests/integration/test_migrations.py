from pathlib import Path

import pytest

from services.reporting import migrations as reporting_migrations
from shared import db

pytestmark = pytest.mark.integration


async def test_migrations_apply_once_and_in_order(database_url):
    pool = await db.create_pool(database_url, "reporting")
    try:
        first = await db.migrate(pool, "reporting", "services.reporting.migrations")
        shared = sorted(f"shared/{f.name}" for f in Path(db.__file__).with_name("migrations").glob("*.sql"))
        own = sorted(f.name for f in Path(reporting_migrations.__file__).parent.glob("*.sql"))
        assert shared[:2] == ["shared/001_messaging.sql", "shared/002_api_keys.sql"]
        assert first == shared + own, "shared migrations first, then the service's own, each in name order"
        assert await db.migrate(pool, "reporting", "services.reporting.migrations") == []
        tables = {r["tablename"] for r in await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'reporting'")}
        assert {"outbox", "processed_events", "facts", "schema_migrations"} <= tables
    finally:
        await pool.close()


async def test_each_service_keeps_its_tables_in_its_own_schema(database_url):
    for service in ("registration", "matchmaking", "notifications", "reporting"):
        pool = await db.create_pool(database_url, service)
        try:
            await db.migrate(pool, service, f"services.{service}.migrations")
        finally:
            await pool.close()
    pool = await db.create_pool(database_url, "public")
    try:
        owners = await pool.fetch("SELECT schemaname FROM pg_tables WHERE tablename = 'outbox' ORDER BY 1")
        assert [r["schemaname"] for r in owners] == ["matchmaking", "notifications", "registration", "reporting"]
        assert await pool.fetchval("SELECT to_regclass('public.participants')") is None
    finally:
        await pool.close()


async def test_an_edited_applied_migration_stops_start_up(database_url):
    pool = await db.create_pool(database_url, "reporting")
    try:
        await db.migrate(pool, "reporting", "services.reporting.migrations")
        await pool.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE name = '001_reporting.sql'")
        with pytest.raises(db.MigrationError, match="changed after it was applied"):
            await db.migrate(pool, "reporting", "services.reporting.migrations")
    finally:
        await pool.close()
