"""Registration's internal lookups live on a listener of their own, behind the service token."""

import asyncio

import httpx
import pytest
import uvicorn

from services.registration import seed
from services.registration.bootstrap import build
from services.registration.settings import RegistrationSettings
from shared import auth as api_keys
from cxc.infra.embedded import free_port
from tests.support.polling import eventually
from tests.support.secrets import TEST_SECRETS
from tests.support.payloads import PARTICIPANT as BODY

pytestmark = pytest.mark.integration

TOKEN = TEST_SECRETS["CXC_INTERNAL_TOKEN"]


async def test_internal_lookups_answer_only_on_the_internal_port_and_only_with_the_token(database_url, kafka_bootstrap):
    public_port, internal_port = free_port(), free_port()
    service = build(RegistrationSettings(database_url=database_url, kafka_bootstrap=kafka_bootstrap,
                                         port=public_port, internal_port=internal_port))
    # The same sockets and dispatch as Service.run(), served in this event loop.
    config = uvicorn.Config(service.app(), host="127.0.0.1", port=public_port, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=service._listeners(config)))
    try:
        await eventually(lambda: asyncio.sleep(0, server.started), timeout=30, interval=0.02)
        async with service.pool.acquire() as conn:
            await seed.seed_clusters(conn)
            _, key = await api_keys.issue_key(conn, "mazovia-ict", "partner", None, source="/test")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{public_port}") as public, \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{internal_port}") as internal:
            created = await public.post("/v1/participants", json=BODY, headers={"Authorization": f"Bearer {key}"})
            assert created.status_code == 201, created.text
            path = f"/internal/v1/contacts/{created.json()['id']}"

            # The public app has no internal route; the gate answers the unknown bearer before routing.
            assert not [r for r in config.app.public.routes if getattr(r, "path", "").startswith("/internal")]
            on_public = await public.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert on_public.status_code in (401, 404) and "daniel@score.example" not in on_public.text
            assert (await internal.get(path)).status_code == 401
            assert (await internal.get(path, headers={"Authorization": f"Bearer {key}"})).status_code == 401
            # A non-ASCII token is a wrong token (401), not a crash in compare_digest (500).
            odd = await internal.get(path, headers={"Authorization": "Bearer t\xf6k\xe9n".encode("latin-1")})
            assert odd.status_code == 401
            assert (await internal.get("/v1/clusters", headers={"Authorization": f"Bearer {key}"})).status_code == 404

            found = await internal.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert found.status_code == 200 and found.json()["email"] == "daniel@score.example"
            assert (await public.get("/healthz")).status_code == 200
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)
