"""``cxc import participants``: the CSV import over the service layer, and the command itself."""

import asyncio
import csv
import json
import os
import sys

import pytest

from services.registration import seed
from services.registration.entrypoints.csv_import import import_participants, read_rows
from shared.db import create_pool, migrate

pytestmark = pytest.mark.integration

HEADER = ["kind", "name", "country", "city", "sectors", "offers", "contact_name", "contact_email",
          "data_processing_consent", "external_ref"]


def write_csv(path, rows):
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def good(i):
    return ["sme", f"Company {i}", "PL", "Warsaw", "J62.01", "technology: thing", f"Person {i}", f"p{i}@x.example", "yes", ""]


@pytest.fixture
async def pool(database_url):
    pool = await create_pool(database_url, "registration", max_size=4)
    await migrate(pool, "registration", "services.registration.migrations")
    async with pool.acquire() as conn:
        await seed.seed_clusters(conn)
    yield pool
    await pool.close()


async def test_import_registers_valid_rows_reports_bad_ones_by_line_and_is_rerunnable(pool, tmp_path):
    rows = [good(i) for i in range(250)]
    rows[10] = ["sme", "Bad Country", "XX", "", "", "", "P", "p@x.example", "yes", ""]
    rows[20] = ["sme", "No Consent", "PL", "", "", "", "P", "q@x.example", "", ""]
    path = write_csv(tmp_path / "members.csv", rows)
    progressed = []

    report = await import_participants(pool, read_rows(path), "mazovia-ict", progressed.append)
    assert (report.created, report.existing) == (248, 0)
    assert [(line, why.split(":")[0]) for line, why in report.failed] == [(12, "country"), (22, "consent.data_processing")]
    assert sum(progressed) == 250 and len(progressed) == 3

    again = await import_participants(pool, read_rows(path), "mazovia-ict")
    assert (again.created, again.existing, len(again.failed)) == (0, 248, 2)
    assert await pool.fetchval("SELECT count(*) FROM participants WHERE cluster_id = 'mazovia-ict'") == 248
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'participant.registered'") == 248


async def test_the_cli_command_imports_with_a_progress_bar_and_exit_status(pool, database_url, tmp_path):
    path = write_csv(tmp_path / "gaia.csv", [good(1), good(2), ["sme", "x", "ZZ", "", "", "", "P", "z@x.example", "yes", ""]])
    env = {**os.environ, "CXC_DATABASE_URL": database_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cxc.cli", "import", "participants", str(path), "--cluster", "gaia",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1, err.decode()
    assert out.decode().strip() == "2 created, 0 already registered, 1 refused"
    assert "importing gaia.csv" in err.decode() and "gaia.csv:4: country" in err.decode()
    events = [json.loads(r["envelope"]) for r in await pool.fetch("SELECT envelope FROM outbox")]
    assert [e["data"]["profile"]["cluster_id"] for e in events] == ["gaia", "gaia"]

    missing = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cxc.cli", "import", "participants", str(path), "--cluster", "atlantis",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    await asyncio.wait_for(missing.communicate(), 60)
    assert missing.returncode == 2
