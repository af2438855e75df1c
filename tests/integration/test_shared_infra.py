"""The shared-infrastructure path of the tests: the launcher CI uses (`make test-shared`), and the images
the testcontainers path runs."""

import json
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from cxc.infra.embedded import port_open
from tests.support.containers import compose_image

pytestmark = pytest.mark.integration

PROBE = """
import asyncio, json, os, sys
import asyncpg
from shared.messaging.kafka import broker_reachable

async def main():
    conn = await asyncpg.connect(os.environ["CXC_TEST_DATABASE_URL"])
    await conn.close()
    return await broker_reachable(os.environ["CXC_TEST_KAFKA_BOOTSTRAP"], 10)

ok = asyncio.run(main())
print(json.dumps({k: os.environ[k] for k in ("CXC_TEST_DATABASE_URL", "CXC_TEST_KAFKA_BOOTSTRAP")} | {"ok": ok}))
sys.exit(3)
"""


def test_the_launcher_serves_one_postgres_and_one_broker_and_stops_both_when_the_command_fails():
    done = subprocess.run([sys.executable, "-m", "tests.shared_infra", "--", sys.executable, "-c", PROBE],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr  # the command's own status
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["ok"], "the command reached both PostgreSQL and the broker"
    pg_port = urlsplit(seen["CXC_TEST_DATABASE_URL"]).port
    broker_port = int(seen["CXC_TEST_KAFKA_BOOTSTRAP"].rsplit(":", 1)[1])
    assert not port_open(pg_port) and not port_open(broker_port), "both are stopped after a failing command"


def test_the_launcher_needs_a_command():
    done = subprocess.run([sys.executable, "-m", "tests.shared_infra", "--"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2 and "usage" in done.stderr


def test_testcontainers_run_the_images_compose_runs():
    assert compose_image("postgres").split(":")[0] == "postgres" and compose_image("postgres").endswith(":18")
    assert compose_image("kafka").startswith("apache/kafka:")
