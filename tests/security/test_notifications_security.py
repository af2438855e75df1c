"""Notifications under attack: webhooks as SSRF, hostile mail headers, addresses leaking through errors.

Pure checks run without infrastructure; the rest use real PostgreSQL, the real FastAPI app and sender loops
(tests/notifications_harness.py), a real SMTP server (tests/smtp_server.py) and a real HTTP receiver.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import json
import logging
import time
import uuid
from dataclasses import dataclass, field

import pytest
from pydantic import ValidationError

from services.notifications.adapters import mailer, store, webhook_http
from services.notifications.domain import signing
from services.notifications.domain.destinations import DestinationPolicy, DestinationRefused
from services.notifications.domain.errors import mask, smtp_reply
from services.notifications.domain.headers import header_text
from services.notifications.settings import NotificationsSettings
from cxc.infra.embedded import free_port
from tests.support.notifications_harness import harness
from tests.support.smtp_server import SmtpTestServer

HOSTILE = "Evil Corp\r\nBcc: victim@evil.example\rX-Injected: 1\nSubject: spoofed\u2028Bcc: b@evil.example\u2029\x85\x00\x0b\x0c\u202e"


# --- webhook destinations (pure) ---------------------------------------------------------------------

SSRF_URLS = [
    "https://127.0.0.1/hook", "https://[::1]/hook", "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.5/hook", "https://192.168.1.10/hook", "https://172.16.3.4/hook", "https://100.64.0.1/hook",
    "https://224.0.0.1/hook", "https://0.0.0.0/hook", "https://[fd00::1]/hook", "https://[fe80::1]/hook",
    "https://[::ffff:127.0.0.1]/hook", "https://[::ffff:169.254.169.254]/hook", "https://[64:ff9b::a00:5]/hook",
    "https://127.1/hook", "https://2130706433/hook", "https://0x7f.1/hook",
    "http://registration:8001/internal/v1/contacts/x", "https://registration:8001/", "https://kafka:9092/",
    "https://postgres:5432/", "https://mailpit:8025/", "https://localhost/hook", "https://api.localhost/hook",
    "https://db.internal/hook", "https://printer.local/hook", "https://user:pw@partner.example/hook",
    "http://partner.example/hook",
]


@pytest.mark.parametrize("url", SSRF_URLS)
def test_internal_and_plain_http_destinations_are_refused_by_default(url):
    with pytest.raises(DestinationRefused):
        DestinationPolicy().check_url(url)


def test_a_public_https_url_passes_and_exceptions_need_an_explicit_setting():
    assert DestinationPolicy().check_url("https://hooks.partner.example:8443/cxc").port == 8443
    relaxed = DestinationPolicy.from_settings(True, ("127.0.0.1", "10.20.0.0/16", "mock-partner"))
    relaxed.check_url("http://127.0.0.1:9000/x")
    relaxed.check_url("http://mock-partner:8080/x")
    relaxed.check_address("10.20.3.4")
    with pytest.raises(DestinationRefused):
        relaxed.check_address("10.21.0.1")
    with pytest.raises(DestinationRefused):
        relaxed.check_url("http://registration:8001/")


# --- webhook signatures (pure) -----------------------------------------------------------------------


def test_verify_rejects_a_replayed_signature_outside_the_five_minute_tolerance():
    secret, body = signing.new_secret(), b'{"a":1}'
    now = int(time.time())
    sig = signing.headers(secret, "d1", now - 301, body)["webhook-signature"]
    assert not signing.verify(secret, "d1", str(now - 301), body, sig), "a captured request replayed later"
    future = signing.headers(secret, "d1", now + 301, body)["webhook-signature"]
    assert not signing.verify(secret, "d1", str(now + 301), body, future)
    fresh = signing.headers(secret, "d1", now - 60, body)["webhook-signature"]
    assert signing.verify(secret, "d1", str(now - 60), body, fresh)
    assert not signing.verify(secret, "d1", "not-a-number", body, fresh)
    assert not signing.verify(secret, "d1", str(now), body, "v1,Zm9vé ✓"), "non-ASCII is a mismatch, not a crash"


@pytest.mark.parametrize("secret", [
    "whsec_this is not base64!!!!", "whsec_" + base64.b64encode(b"x" * 8).decode(),
    "whsec_" + base64.b64encode(b"x" * 65).decode(), "whsec_" + base64.b64encode(b"x" * 30).decode()[:-1],
    "short",
])
def test_unusable_secrets_are_refused(secret):
    with pytest.raises(ValueError):
        signing.check_secret(secret)


def test_generated_and_well_formed_secrets_are_accepted():
    signing.check_secret(signing.new_secret())
    signing.check_secret("whsec_" + base64.b64encode(b"k" * 32).decode())
    signing.check_secret("a-partner-chosen-secret")


# --- mail headers (pure) -----------------------------------------------------------------------------


def test_hostile_text_in_subject_and_display_names_cannot_add_or_split_headers():
    msg = mailer.build(delivery_id="d1", sender="ClusterXchange <no-reply@clusterxchange.eu>", to="anna@score.example",
                       to_name=HOSTILE, subject=f"New meeting request from {HOSTILE}", text="t", html="<p>h</p>",
                       language="en\r\nBcc: z@evil.example")
    raw = msg.as_bytes()
    head = raw.split(b"\n\n", 1)[0].decode()
    names = [line.split(":", 1)[0] for line in head.split("\n") if line and not line[0].isspace()]
    assert names.count("Subject") == 1 and "Bcc" not in names and "X-Injected" not in names
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"].startswith("New meeting request from Evil Corp Bcc: victim@evil.example")
    assert [a.addr_spec for a in parsed["To"].addresses] == ["anna@score.example"], "no smuggled address"
    long = mailer.build(delivery_id="d2", sender="a@clusterxchange.eu", to="anna@score.example", to_name=HOSTILE * 3,
                        subject="s", text="t", html="h", language="en")
    reparsed = email.message_from_bytes(long.as_bytes(), policy=email.policy.default)
    assert [a.addr_spec for a in reparsed["To"].addresses] == ["anna@score.example"], "not even once folded"
    for value in (str(parsed["Subject"]), str(parsed["To"]), str(parsed["From"])):
        assert not any(ch in value for ch in "\r\n\u2028\u2029\x85\x00\x0b\x0c\u202e")
    assert header_text("a\u2028b\rc\nd") == "a b c d"


def test_an_address_that_could_end_a_header_is_refused_not_sent():
    for bad in ("anna@score.example\r\nBcc: x@y", "anna@score.example, x@evil.example", "<a@b>", "a@b\u2028"):
        with pytest.raises(mailer.UnusableAddress):
            mailer.build(delivery_id="d", sender="a@clusterxchange.eu", to=bad, subject="s", text="t", html="h",
                         language="en")


# --- error texts (pure) ------------------------------------------------------------------------------


def test_an_smtp_reply_is_reduced_to_code_class_and_stage():
    text = "5.1.1 <anna.nowak@score.example>: Recipient address rejected: User unknown (Anna Nowak)"
    reason = smtp_reply("RCPT", 550, text)
    assert reason == "SMTP 550 5.1.1 at RCPT: permanent, addressing status"
    assert "anna" not in reason.lower()
    assert mask("rejected <anna@score.example> and bob@x.example") == "rejected <…> and [address]"


def test_smtp_settings_fail_closed():
    base = {"env": "test"}
    assert NotificationsSettings(**base).smtp_tls == "starttls", "TLS is required unless said otherwise"
    with pytest.raises(ValidationError, match="in clear"):
        NotificationsSettings(**base, smtp_tls="none", smtp_username="u", smtp_password="a-long-smtp-password")
    with pytest.raises(ValidationError, match="or neither"):
        NotificationsSettings(**base, smtp_username="u")
    with pytest.raises(ValidationError, match="CA_FILE"):
        NotificationsSettings(**base, smtp_ca_file="/nonexistent/ca.pem")
    with pytest.raises(ValidationError, match="CA_FILE"):
        NotificationsSettings(**base, smtp_ca_file=__file__)  # a file, but no certificate
    with pytest.raises(ValidationError, match="MAIL_FROM"):
        NotificationsSettings(**base, mail_from="Ops <ops@x.example>\r\nBcc: all@x.example")
    with pytest.raises(ValidationError, match="MAIL_FROM"):
        NotificationsSettings(**base, mail_from="victim@evil.example <ops@x.example>")
    with pytest.raises(ValidationError, match="SMTP_PASSWORD"):
        NotificationsSettings(env="prod", smtp_username="u", smtp_password="changeme")


# --- the rest runs on PostgreSQL ------------------------------------------------------------------------

pytest_integration = pytest.mark.integration


PUBLIC = "93.184.216.34"  # a globally routable address; nothing connects to it in these tests


@pytest.fixture
async def world(database_url, monkeypatch):
    """The harness, with partners' made-up names (*.example) resolving to a public address: the machine
    has no DNS beyond /etc/hosts. Everything else (IP literals, localhost) resolves for real."""
    real = webhook_http.resolve

    async def resolve(host, port):
        return [PUBLIC] if host.endswith(".example") else await real(host, port)

    monkeypatch.setattr(webhook_http, "resolve", resolve)
    h = await harness(database_url, webhook_max_per_cluster=3)
    try:
        yield h
    finally:
        await h.pool.close()


# --- addresses never leak through SMTP errors ----------------------------------------------------------


@pytest_integration
@pytest.mark.parametrize("reply", [
    "550 5.1.1 <{a}>: Recipient address rejected: User unknown in virtual mailbox table",
    "450 4.2.0 {a}: Recipient address rejected: Greylisted, see https://example.org/{a}",
])
async def test_a_recipient_refusal_that_repeats_the_address_leaves_it_nowhere(world, caplog, reply):
    address = "anna.nowak@score.example"
    with SmtpTestServer() as smtp:
        smtp.refuse_recipient = lambda a: reply.format(a=a)
        pid = world.contacts.add(address, name="Anna Nowak")
        await world.plan(pid)
        with caplog.at_level(logging.DEBUG):
            await world.email_sender(**smtp.settings_kwargs(), give_up_after_s=0).loop.drain_once()
    assert any(r.name.startswith("services.notifications") for r in caplog.records), "the service did log"
    [row] = await world.rows()
    assert row["status"] == "failed", "5xx at once, 4xx after giving up"
    assert reply[:3] in row["last_error"] and "RCPT" in row["last_error"]
    [failed] = await world.events()
    assert failed["type"] == "notification.failed" and reply[:3] in failed["data"]["error"]
    async with world.api() as api:
        listed = (await api.get("/v1/notifications", headers=await world.key("c", "silicon-saxony", "coordinator"))).text
    assert pid in listed
    for where, text in [("last_error", row["last_error"]), ("event", json.dumps(failed)), ("API", listed),
                        ("logs", "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log"))]:
        assert "anna.nowak" not in text.lower() and "score.example" not in text, f"the address leaked into {where}"


# --- one hostile name cannot block a recipient's mail --------------------------------------------------


@pytest_integration
async def test_a_hostile_organisation_name_in_the_subject_is_sent_inert_and_blocks_no_other_mail(world):
    with SmtpTestServer() as smtp:
        target = world.contacts.add("target@labs.example", name=f"Target {HOSTILE}")
        hostile = world.contacts.add("evil@evil.example", organisation=HOSTILE)
        async with world.pool.acquire() as conn:  # PostgreSQL text cannot hold NUL; everything else goes in
            await store.upsert_participant(conn, hostile, "gaia", HOSTILE.replace("\x00", ""))
        context = {"counterpart_id": hostile, "activity_id": None, "expires": "2026-12-01T12:00:00+00:00"}
        for _ in range(3):
            await world.plan(target, "meeting_requested", context)
        await world.plan(target, "exchange_cancelled")
        assert await world.email_sender(**smtp.settings_kwargs()).loop.drain_once() == 4
        rows = await world.rows()
        assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)] * 4, "each mail once, at the first try"
        assert smtp.recipients == [["target@labs.example"]] * 4, "no injected Bcc recipient"
        subjects = [str(m["Subject"]) for m in smtp.messages]
        assert sum(s.startswith("New meeting request from Evil Corp Bcc: victim@evil.example") for s in subjects) == 3
        for raw in smtp.raw:
            head = raw.split(b"\r\n\r\n", 1)[0].decode()
            assert "\nBcc:" not in head and "\nX-Injected:" not in head


@pytest_integration
async def test_an_unusable_stored_address_fails_that_mail_at_once_without_retrying(world):
    with SmtpTestServer() as smtp:
        pid = world.contacts.add("anna@score.example\r\nBcc: x@evil.example")
        fine = world.contacts.add("jonas@labs.example")
        await world.plan(pid)
        await world.plan(fine)
        await world.email_sender(**smtp.settings_kwargs()).loop.drain_once()
    statuses = {r["recipient"]: (r["status"], r["attempts"], r["last_error"]) for r in await world.rows()}
    assert statuses[pid] == ("failed", 1, "the address cannot be used in a mail header")
    assert statuses[fine][0] == "sent" and smtp.recipients == [["jonas@labs.example"]]


# --- webhooks over HTTP --------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A bare HTTP/1.1 endpoint on loopback that records requests and answers ``status`` with ``body``."""

    status: int = 204
    body: bytes = b""
    requests: list[tuple[dict, bytes]] = field(default_factory=list)
    port: int = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append((headers, body))
            writer.write(f"HTTP/1.1 {self.status} X\r\ncontent-length: {len(self.body)}\r\nconnection: close\r\n\r\n"
                         .encode() + self.body)
            await writer.drain()
        finally:
            writer.close()

    async def __aenter__(self) -> Receiver:
        self.port = free_port()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close()
        await self._server.wait_closed()


def _hook(url: str, types=("exchange.approved",), **extra) -> dict:
    return {"url": url, "event_types": list(types), **extra}


async def _plan_hook_delivery(world, subscription_id: str, cluster_id: str = "mazovia-ict") -> None:
    body = json.dumps({"id": str(uuid.uuid4()), "type": "exchange.approved", "data": {}})
    await world.plan(subscription_id, "webhook", {"body": body}, channel="webhook", cluster_id=cluster_id)


@pytest_integration
async def test_webhook_routes_need_a_key(world):
    hook = str(uuid.uuid4())
    async with world.api() as api:
        for method, path in [("POST", "/v1/webhooks"), ("GET", "/v1/webhooks"), ("GET", f"/v1/webhooks/{hook}"),
                             ("DELETE", f"/v1/webhooks/{hook}"), ("POST", f"/v1/webhooks/{hook}/rotate-secret")]:
            r = await api.request(method, path, json=_hook("https://hooks.partner.example/x") if method == "POST" else None)
            assert r.status_code == 401, (method, path, r.status_code)


@pytest_integration
@pytest.mark.parametrize("url", [
    "http://registration:8001/internal/v1/contacts/x", "https://127.0.0.1/hook", "https://[::1]/hook",
    "https://169.254.169.254/latest/meta-data/", "https://10.1.2.3/hook", "https://192.168.0.10/hook",
    "https://localhost/hook", "http://hooks.partner.example/hook",
])
async def test_ssrf_targets_are_refused_at_creation(world, url):
    async with world.api() as api:
        r = await api.post("/v1/webhooks", json=_hook(url), headers=await world.key("a", "mazovia-ict", "partner"))
    assert r.status_code == 422 and r.json()["type"].endswith("/webhook-destination-refused"), r.text
    assert await world.pool.fetchval("SELECT count(*) FROM webhook_subscriptions") == 0


@pytest_integration
async def test_a_name_that_resolves_to_an_internal_address_is_refused_at_creation(world, monkeypatch):
    async def to_loopback(host, port):
        return ["127.0.0.1"] if host == "rebind.partner.example" else [PUBLIC]

    monkeypatch.setattr(webhook_http, "resolve", to_loopback)
    key = await world.key("a", "mazovia-ict", "partner")
    async with world.api() as api:
        refused = await api.post("/v1/webhooks", json=_hook("https://rebind.partner.example/h"), headers=key)
        fine = await api.post("/v1/webhooks", json=_hook("https://hooks.partner.example/h"), headers=key)
    assert refused.status_code == 422 and fine.status_code == 201


@pytest_integration
async def test_dns_rebinding_after_creation_is_caught_when_sending(world, monkeypatch):
    """The name was public when the hook was made and points at loopback when it fires: nothing is sent."""
    answers = {"rebind.partner.example": [PUBLIC]}

    async def resolver(host, port):
        return answers.get(host, [host])

    monkeypatch.setattr(webhook_http, "resolve", resolver)
    async with Receiver() as receiver:
        world.settings = world.with_settings(webhook_allow_http=True)
        async with world.api() as api:
            r = await api.post("/v1/webhooks", json=_hook(f"http://rebind.partner.example:{receiver.port}/h"),
                               headers=await world.key("a", "mazovia-ict", "partner"))
        assert r.status_code == 201, r.text
        answers["rebind.partner.example"] = ["127.0.0.1"]
        await _plan_hook_delivery(world, r.json()["id"])
        sender = world.webhook_sender()
        try:
            await sender.loop.drain_once()
        finally:
            await sender.close()
        [row] = await world.rows()
        assert receiver.requests == [], "the request never reached the internal address"
        assert row["status"] == "failed" and "not allowed" in row["last_error"]


@pytest_integration
async def test_allowed_by_setting_a_loopback_receiver_gets_signed_deliveries_and_only_a_coarse_outcome_comes_back(
    world,
):
    async with Receiver(status=404, body=b"internal-service-banner v1.2.3 /admin") as receiver:
        world.settings = world.with_settings(webhook_allow_http=True, webhook_allowed_destinations=("127.0.0.1",))
        key = await world.key("a", "mazovia-ict", "partner")
        async with world.api() as api:
            r = await api.post("/v1/webhooks", json=_hook(f"http://127.0.0.1:{receiver.port}/h"), headers=key)
            assert r.status_code == 201, r.text
            created = r.json()
            await _plan_hook_delivery(world, created["id"])
            sender = world.webhook_sender()
            try:
                await sender.loop.drain_once()
            finally:
                await sender.close()
            [(headers, body)] = receiver.requests
            assert signing.verify(created["secret"], headers["webhook-id"], headers["webhook-timestamp"], body,
                                  headers["webhook-signature"])
            listed = (await api.get("/v1/notifications", headers=key)).json()
        [row] = [d for d in listed if d["channel"] == "webhook"]
        assert row["status"] == "failed" and row["last_error"] == "webhook: the receiver refused the delivery (4xx)"
        assert "banner" not in json.dumps(listed) and "404" not in json.dumps(listed)


@pytest_integration
async def test_the_number_of_webhooks_per_cluster_is_capped(world):
    key = await world.key("a", "mazovia-ict", "partner")
    async with world.api() as api:
        for i in range(3):
            assert (await api.post("/v1/webhooks", json=_hook(f"https://hooks.partner.example/{i}"), headers=key)
                    ).status_code == 201
        over = await api.post("/v1/webhooks", json=_hook("https://hooks.partner.example/3"), headers=key)
        other = await api.post("/v1/webhooks", json=_hook("https://hooks.partner.example/3"),
                               headers=await world.key("b", "gaia", "partner"))
    assert over.status_code == 409 and over.json()["type"].endswith("/webhook-limit-reached")
    assert other.status_code == 201, "the cap is per cluster"


@pytest_integration
async def test_retried_creates_never_duplicate_a_hook(world):
    key = await world.key("a", "mazovia-ict", "partner")
    body = _hook("https://hooks.partner.example/h", ["exchange.approved", "exchange.completed"])
    async with world.api() as api:
        first = await api.post("/v1/webhooks", json=body, headers=key | {"Idempotency-Key": "create-1"})
        again = await api.post("/v1/webhooks", json=body, headers=key | {"Idempotency-Key": "create-1"})
        assert first.status_code == 201 and again.status_code == 200
        assert again.json()["id"] == first.json()["id"] and again.json()["secret"] == first.json()["secret"], (
            "the retry of a create whose answer was lost gets the generated secret again")
        reordered = body | {"event_types": ["exchange.completed", "exchange.approved"]}
        without_key = await api.post("/v1/webhooks", json=reordered, headers=key)
        assert without_key.status_code == 200 and without_key.json()["id"] == first.json()["id"]
        assert "secret" not in without_key.json()
        misuse = await api.post("/v1/webhooks", json=_hook("https://hooks.partner.example/other"),
                                headers=key | {"Idempotency-Key": "create-1"})
        assert misuse.status_code == 422 and misuse.json()["type"].endswith("/idempotency-key-reused")
        racing = await asyncio.gather(*[
            api.post("/v1/webhooks", json=_hook("https://hooks.partner.example/race"), headers=key) for _ in range(5)])
        assert sorted(r.status_code for r in racing) == [200, 200, 200, 200, 201]
        assert len({r.json()["id"] for r in racing}) == 1
    assert await world.pool.fetchval("SELECT count(*) FROM webhook_subscriptions") == 2


@pytest_integration
async def test_a_bad_whsec_secret_is_refused_at_creation(world):
    async with world.api() as api:
        r = await api.post("/v1/webhooks", json=_hook("https://hooks.partner.example/h", secret="whsec_not*base64*at*all"),
                           headers=await world.key("a", "mazovia-ict", "partner"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "secret"


@pytest_integration
async def test_partners_list_get_rotate_and_delete_only_their_own_clusters_hooks(world):
    a, b = await world.key("a", "mazovia-ict", "partner"), await world.key("b", "gaia", "partner")
    coordinator = await world.key("c", "silicon-saxony", "coordinator")
    ops = await world.key("o", "silicon-saxony", "ops")
    async with world.api() as api:
        mine = (await api.post("/v1/webhooks", json=_hook("https://hooks.mazovia.example/h"), headers=a)).json()
        theirs = (await api.post("/v1/webhooks", json=_hook("https://hooks.gaia.example/h"), headers=b)).json()
        assert [h["id"] for h in (await api.get("/v1/webhooks", headers=a)).json()] == [mine["id"]]
        assert all("secret" not in h for h in (await api.get("/v1/webhooks", headers=coordinator)).json())
        assert len((await api.get("/v1/webhooks", headers=ops)).json()) == 2
        assert (await api.get(f"/v1/webhooks/{theirs['id']}", headers=a)).status_code == 404
        assert (await api.post(f"/v1/webhooks/{theirs['id']}/rotate-secret", headers=a)).status_code == 404
        assert (await api.delete(f"/v1/webhooks/{theirs['id']}", headers=a)).status_code == 404
        assert (await api.delete(f"/v1/webhooks/{theirs['id']}", headers=ops)).status_code == 403

        rotated = await api.post(f"/v1/webhooks/{mine['id']}/rotate-secret", headers=a)
        assert rotated.status_code == 200 and rotated.json()["secret"] != mine["secret"]
        assert rotated.json()["previous_secret_valid_until"]
        _, secrets = await _signing_secrets(world, mine["id"])
        assert secrets == [rotated.json()["secret"], mine["secret"]], "both sign during the overlap"

        await _plan_hook_delivery(world, theirs["id"])
        assert (await api.delete(f"/v1/webhooks/{theirs['id']}", headers=coordinator)).status_code == 204
        assert (await api.get(f"/v1/webhooks/{theirs['id']}", headers=b)).status_code == 404
    [planned] = await world.rows()
    assert planned["status"] == "cancelled", "deliveries still planned for a deleted hook are dropped"


async def _signing_secrets(world, subscription_id):
    from services.notifications.adapters import webhooks

    async with world.pool.acquire() as conn:
        return await webhooks.signing_secrets(conn, subscription_id)
