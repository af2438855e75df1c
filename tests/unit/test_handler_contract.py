"""The kernel's handler contract: domain errors become problem+json once, at the edge; the fake unit of
work behaves like a transaction where handlers rely on it (savepoints)."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shared import problems
from shared.errors import Conflict, Forbidden, Gone, Invalid, NotFound, RuleBroken
from shared.unit_of_work import Caller
from tests.support.fakes import FakeUnitOfWork


def _app(error: Exception) -> TestClient:
    app = FastAPI()
    problems.install(app)

    @app.get("/thing")
    async def thing():
        raise error

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(("error", "status", "kind", "title"), [
    (NotFound.of("participant", "p-1"), 404, "not-found", "Not Found"),
    (Conflict("Exchange x is completed", kind="invalid-state"), 409, "invalid-state", "Conflict"),
    (Forbidden("Only the sending cluster can do this"), 403, "forbidden", "Forbidden"),
    (Gone("It was erased", kind="erased"), 410, "erased", "Gone"),
    (RuleBroken("host_cluster_id", "must differ"), 422, "rule-violation", "Programme rule violated"),
])
def test_each_domain_error_maps_to_its_problem(error, status, kind, title):
    r = _app(error).get("/thing")
    assert r.status_code == status
    assert r.headers["content-type"] == problems.PROBLEM_JSON
    body = r.json()
    assert body["type"] == problems.TYPE_BASE + kind
    assert body["title"] == title and body["status"] == status and body["detail"] == str(error)
    assert body["instance"] == "/thing"


def test_rule_broken_names_the_rule_and_invalid_looks_like_request_validation():
    assert _app(RuleBroken("end_date", "too long")).get("/thing").json()["errors"] == [
        {"field": "end_date", "message": "too long", "type": "rule"}]
    body = _app(Invalid("cluster_id", "required for coordinator keys", detail="A coordinator must pass cluster_id",
                        error_type="missing")).get("/thing").json()
    assert body["type"].endswith("/validation-error") and body["title"] == "Validation failed"
    assert body["detail"] == "A coordinator must pass cluster_id"
    assert body["errors"] == [{"field": "cluster_id", "message": "required for coordinator keys", "type": "missing"}]


def test_domain_errors_do_not_import_a_web_framework():
    import shared.errors
    import shared.unit_of_work
    for module in (shared.errors, shared.unit_of_work):
        assert "fastapi" not in open(module.__file__).read()
        assert "starlette" not in open(module.__file__).read()


class _Repo:
    def __init__(self) -> None:
        self.rows: dict[str, int] = {}


def test_fake_savepoint_rolls_back_state_and_events_of_a_failed_block():
    uow = FakeUnitOfWork(_Repo(), Caller("alpha", "partner", "k"))

    async def go():
        async with uow.savepoint():
            uow.repo.rows["kept"] = 1
            await uow.publish("kept")
        with pytest.raises(Conflict):
            async with uow.savepoint():
                uow.repo.rows["lost"] = 2
                await uow.publish("lost")
                raise Conflict("no")

    asyncio.run(go())
    assert uow.repo.rows == {"kept": 1}
    assert uow.published == ["kept"]
