"""Webhook requests as a receiver sees them, read with the ecosystem's own libraries: the CloudEvents SDK
parses the body (HTTP binding, structured content mode) and the Standard Webhooks library verifies the
signature; and a signature made by that library passes our verify.

The real handler plans the delivery and the real sender sends it; only the network is replaced by an
httpx mock transport that records the request exactly as httpx would put it on the wire."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from standardwebhooks import Webhook, WebhookVerificationError

from services.notifications.adapters import webhook_http
from services.notifications.domain import signing
from services.notifications.handlers import HANDLERS
from shared.events import new_envelope
from shared.events.catalogue import ExchangeApproved
from tests.support.notifications_harness import harness

pytestmark = pytest.mark.integration

PUBLIC = "93.184.216.34"  # a globally routable address; the mock transport means nothing connects to it


@pytest.fixture
async def world(database_url, monkeypatch):
    async def resolve(host, port):  # partners' made-up names resolve to a public address
        return [PUBLIC]

    monkeypatch.setattr(webhook_http, "resolve", resolve)
    h = await harness(database_url)
    try:
        yield h
    finally:
        await h.pool.close()


async def hook(world, secret: str | None = None) -> dict:
    body = {"url": "https://hooks.partner.example/cxc", "event_types": ["exchange.approved"]}
    async with world.api() as api:
        r = await api.post("/v1/webhooks", json=body | ({"secret": secret} if secret else {}),
                           headers=await world.key("partner", "mazovia-ict", "partner"))
    assert r.status_code == 201, r.text
    return r.json()


def approved_event():
    return new_envelope(
        ExchangeApproved(exchange_id=str(uuid.uuid4()), participant_id=str(uuid.uuid4()),
                         sending_cluster_id="mazovia-ict", host_cluster_id="gaia", lump_sum_eur=1200,
                         approved_at=datetime.now(UTC)),
        source="/cxc/registration", correlation_id="req-hook-1",
    )


async def send_all(world) -> list[httpx.Request]:
    """Drain the webhook sender once; the requests it made."""
    requests: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(204)

    sender = world.webhook_sender()
    await sender.http.aclose()
    sender.http = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    try:
        await sender.loop.drain_once()
    finally:
        await sender.close()
    return requests


async def planned_by_the_handler(world, env) -> None:
    async with world.pool.acquire() as conn, conn.transaction():
        await HANDLERS[env.type](conn, env)


async def test_a_webhook_is_a_structured_mode_cloudevent_the_sdk_parses(world):
    await hook(world)
    env = approved_event()
    await planned_by_the_handler(world, env)
    [request] = await send_all(world)
    assert request.headers["content-type"] == "application/cloudevents+json; charset=utf-8"
    assert not [h for h in request.headers if h.lower().startswith("ce-")], "structured mode: all in the body"
    message = ce_http.HTTPMessage(headers=dict(request.headers), body=request.content)
    event = ce_http.from_http(message, JSONFormat())
    assert event.get_id() == env.id and event.get_type() == "exchange.approved"
    assert event.get_source() == "/cxc/registration" and event.get_subject() == env.subject
    assert event.get_dataschema() == "urn:cxc:event:exchange.approved:v1"
    assert event.get_extension("correlationid") == "req-hook-1" and event.get_extension("schemaversion") == 1
    assert event.get_data() == env.data


async def test_the_standard_webhooks_library_verifies_our_signature_also_across_a_rotation(world):
    created = await hook(world)
    await planned_by_the_handler(world, approved_event())
    [request] = await send_all(world)
    headers = dict(request.headers)
    assert Webhook(created["secret"]).verify(request.content, headers)["type"] == "exchange.approved"
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(request.content, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(request.content + b" ", headers)

    async with world.api() as api:
        r = await api.post(f"/v1/webhooks/{created['id']}/rotate-secret",
                           headers=await world.key("partner", "mazovia-ict", "partner"))
    assert r.status_code == 200, r.text
    await planned_by_the_handler(world, approved_event())
    [rotated] = await send_all(world)
    assert len(rotated.headers["webhook-signature"].split()) == 2
    for secret in (created["secret"], r.json()["secret"]):  # receivers on either key accept it
        Webhook(secret).verify(rotated.content, dict(rotated.headers))


async def test_a_partner_chosen_plain_secret_is_its_utf8_bytes_for_the_library_too(world):
    created = await hook(world, secret="a-partner-chosen-secret-of-gaia")
    assert "secret" not in created
    await planned_by_the_handler(world, approved_event())
    [request] = await send_all(world)
    Webhook(b"a-partner-chosen-secret-of-gaia").verify(request.content, dict(request.headers))


def test_a_signature_made_by_the_standard_webhooks_library_passes_our_verify():
    secret, body, msg_id = signing.new_secret(), approved_event().to_json(), "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    at = datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, body)
    timestamp = str(int(at.timestamp()))
    assert signing.verify(secret, msg_id, timestamp, body, signature)
    assert signing.verify(secret, msg_id, timestamp, body, f"v1,bm90IGl0 {signature}"), "one of several"
    assert not signing.verify(secret, msg_id, timestamp, body + b"x", signature)
    assert not signing.verify(secret, "another-id", timestamp, body, signature)


async def test_a_delivery_planned_in_the_old_event_format_goes_out_in_the_new_one(world):
    """A webhook planned before the upgrade holds the old attribute names: it is sent with the spec names
    (the SDK would refuse the old ones), and signed over the bytes actually sent."""
    created = await hook(world)
    env = approved_event()
    old = json.loads(env.to_json())
    old["correlation_id"], old["schema_version"] = old.pop("correlationid"), old.pop("schemaversion")
    old["causation_id"] = None
    del old["dataschema"]
    await world.plan(created["id"], "webhook", {"body": json.dumps(old)}, channel="webhook", cluster_id="mazovia-ict")
    [request] = await send_all(world)
    event = ce_http.from_http(ce_http.HTTPMessage(dict(request.headers), request.content), JSONFormat())
    assert event.get_extension("correlationid") == env.correlation_id
    assert event.get_dataschema() == "urn:cxc:event:exchange.approved:v1"
    assert "correlation_id" not in json.loads(request.content)
    Webhook(created["secret"]).verify(request.content, dict(request.headers))
