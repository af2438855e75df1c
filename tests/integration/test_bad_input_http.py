"""Bad input over HTTP: hostile bodies, headers and identities get a clear 4xx problem and change nothing."""

import json

import pytest

from tests.support.payloads import PARTICIPANT as BODY
from tests.support.services import api, auth, outbox_events  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


async def assert_problem(r, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert {"type", "title", "status", "detail"} <= body.keys() and body["status"] == status


@pytest.mark.parametrize(
    "content, content_type",
    [
        (b'{"kind": "sme", "name": "\xff\xfe broken utf-8"}', "application/json"),
        (json.dumps(BODY).encode(), "text/plain"),
        (b"kind=sme&name=x", "application/x-www-form-urlencoded"),
        (b"", "application/json"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),  # deeply nested
        (b'{"kind": "sme", "name": ' + b'{"a":' * 300 + b"1" + b"}" * 300 + b"}", "application/json"),
    ],
    ids=["invalid-utf8", "text-plain", "form", "empty", "deep-array", "deep-object"],
)
async def test_malformed_bodies_get_a_4xx_problem_and_publish_nothing(api, content, content_type):
    r = await api.post("/v1/participants", content=content, headers={**auth(api, "mazovia"), "content-type": content_type})
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await outbox_events(api) == []


async def test_injection_strings_are_stored_verbatim_and_returned_as_data(api):
    hostile = "Robert'); DROP TABLE participants;-- <script>alert(1)</script>"
    r = await api.post("/v1/participants", json={**BODY, "name": hostile, "keywords": [hostile[:60]]},
                       headers=auth(api, "mazovia"))
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json"
    fetched = await api.get(f"/v1/participants/{r.json()['id']}", headers=auth(api, "mazovia"))
    assert fetched.json()["name"] == hostile
    assert await api.pool.fetchval("SELECT count(*) FROM participants") == 1, "the table is still there"


async def test_abusive_headers_are_refused_without_side_effects(api):
    for header in ["Bearer " + "A" * 20_000, "Bearer\tcxc_x", "bearer", "Bearer " + auth(api, "gaia")["Authorization"]]:
        r = await api.post("/v1/participants", json=BODY, headers={"Authorization": header})
        await assert_problem(r, 401)
    r = await api.post("/v1/participants", json=BODY, headers={**auth(api, "mazovia"), "Idempotency-Key": "k" * 5000})
    assert 400 <= r.status_code < 500
    assert await outbox_events(api) == []


async def test_auth_bypass_attempts_fail(api):
    created = (await api.post("/v1/participants", json=BODY, headers=auth(api, "mazovia"))).json()
    # another cluster's id: not found, not forbidden (existence is not confirmed)
    await assert_problem(await api.get(f"/v1/participants/{created['id']}", headers=auth(api, "gaia")), 404)
    await assert_problem(await api.patch(f"/v1/participants/{created['id']}", json={"city": "x"},
                                         headers=auth(api, "gaia")), 404)
    # role escalation: a partner creating a cluster, an ops key writing
    await assert_problem(await api.post("/v1/clusters", json={"id": "evil", "name": "Evil", "country": "DE",
                                                              "city": "Berlin"}, headers=auth(api, "mazovia")), 403)
    await assert_problem(await api.post("/v1/participants", json=BODY, headers=auth(api, "ops")), 403)
    # a revoked key stops working at once
    key_id = await api.pool.fetchval("SELECT id::text FROM api_keys WHERE role = 'partner' AND cluster_id = 'gaia'")
    async with api.pool.acquire() as conn, conn.transaction():
        from shared import auth as keys

        assert await keys.revoke_key(conn, key_id, source="/test")
    await assert_problem(await api.get("/v1/clusters", headers=auth(api, "gaia")), 401)
