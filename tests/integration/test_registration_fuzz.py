"""Property-based fuzzing of the registration API from its own OpenAPI document: no input, valid or not,
may make the service answer 5xx, and every answer is one the document declares (status, media type and
body schema: the success models and the problem+json errors of shared/openapi.py).

The service runs as a real uvicorn server in the test's event loop; schemathesis drives it over HTTP from
a worker thread. Bounded: a fixed number of examples per operation and generation mode, no shrinking
database, so the run takes seconds.
"""

import asyncio
import contextlib

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from services.registration import seed
from services.registration.bootstrap import build
from services.registration.settings import RegistrationSettings
from shared import auth as api_keys
from cxc.infra.embedded import free_port
from tests.support.payloads import PARTICIPANT as BODY

pytestmark = pytest.mark.integration

EXAMPLES = 8
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


@contextlib.asynccontextmanager
async def served(database_url, kafka_bootstrap):
    service = build(RegistrationSettings(database_url=database_url, kafka_bootstrap=kafka_bootstrap,
                                         rate_limit_requests=1_000_000))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(service.app(), host="127.0.0.1", port=port, lifespan="on",
                                           log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        yield service, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


def fuzz(base_url: str, document: dict, headers: dict, known_ids: dict) -> list[str]:
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/readyz":  # 503 is its documented answer while a dependency is away
            continue
        names = {p.name for p in operation.path_parameters}
        known = {n: known_ids[n] for n in names if n in known_ids}
        strategies = [operation.as_strategy(mode, headers=headers) for mode in (GenerationMode.POSITIVE,
                                                                                GenerationMode.NEGATIVE)]
        if known:
            strategies.append(operation.as_strategy(GenerationMode.POSITIVE, headers=headers, path_parameters=known))
        for strategy in strategies:
            @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(strategy)
            def call(case):
                response = case.call(base_url=base_url, timeout=10)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} → {response.status_code}: "
                                    f"{response.text[:300]} (body {case.body!r:.300})")
                    return
                try:
                    case.validate_response(response, checks=CONFORMANCE)
                except (AssertionError, BaseExceptionGroup) as exc:  # schemathesis' Failure / FailureGroup
                    failures.append(f"{case.method} {case.formatted_path} → {response.status_code} does not "
                                    f"conform: {str(exc)[:500]} ({response.text[:300]})")

            try:
                call()
            except Unsatisfiable:  # no invalid variant exists, e.g. a GET without parameters
                continue
    return failures


async def test_fuzzing_the_openapi_document_finds_no_server_error(database_url, kafka_bootstrap):
    async with served(database_url, kafka_bootstrap) as (service, base_url):
        async with service.pool.acquire() as conn:
            await seed.seed_clusters(conn)
            _, coordinator = await api_keys.issue_key(conn, "silicon-saxony", "coordinator", None, source="/test")
            _, partner = await api_keys.issue_key(conn, "mazovia-ict", "partner", None, source="/test")
        headers = {"Authorization": f"Bearer {coordinator}"}
        async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {partner}"}) as http:
            document = (await http.get("/openapi.json")).json()
            pid = (await http.post("/v1/participants", json=BODY)).json()["id"]
            activity = {"kind": "webinar", "title": "Intro", "host_cluster_id": "mazovia-ict", "country": "PL",
                        "starts_on": "2026-06-01", "ends_on": "2026-06-01"}
            aid = (await http.post("/v1/activities", json=activity)).json()["id"]
            exchange = {"participant_id": pid, "host_cluster_id": "gaia", "kind": "sme_exchange",
                        "start_date": "2026-06-01", "end_date": "2026-06-12", "goals": "Learn"}
            xid = (await http.post("/v1/exchanges", json=exchange)).json()["id"]
        known = {"participant_id": pid, "activity_id": aid, "exchange_id": xid}
        assert len(document["paths"]) >= 10
        failures = await asyncio.to_thread(fuzz, base_url, document, headers, known)
    assert failures == [], "\n".join(failures)
