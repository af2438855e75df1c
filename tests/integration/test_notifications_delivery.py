"""E-mail delivery guarantees on real PostgreSQL, a real SMTP server (aiosmtpd) and the real registration
service (contact lookup over HTTP): one delivery per row across replicas, restarts and crashes, retries."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from services.notifications.adapters import store
from services.notifications.adapters.contacts import Contacts
from services.notifications.adapters.mailcatcher import MailCatcher
from services.notifications.adapters.mailer import message_id_for
from services.notifications.entrypoints.senders import EmailSender
from services.notifications.settings import NotificationsSettings
from services.registration import seed
from services.registration.bootstrap import build as build_registration
from services.registration.settings import RegistrationSettings
from shared import auth as api_keys
from shared.db import create_pool, migrate
from cxc.infra.embedded import free_port
from tests.support.leases import age_leases
from tests.support.payloads import participant_body
from tests.support.polling import eventually
from tests.support.services import broker_bootstrap, serving_http as serving  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

@pytest.fixture
async def world(database_url, broker_bootstrap, topic_namespace):
    kafka_bootstrap = broker_bootstrap  # only registration's relay uses it; one broker serves the module
    registration = build_registration(RegistrationSettings(database_url=database_url, kafka_bootstrap=kafka_bootstrap))
    catcher = MailCatcher().start()
    async with serving(registration.app()) as reg_url, serving(registration.internal_app()) as internal_url:
        async with registration.pool.acquire() as conn:
            await seed.seed_clusters(conn)
            _, key = await api_keys.issue_key(conn, "mazovia-ict", "partner", None, source="/test")
        settings = NotificationsSettings(
            database_url=database_url, kafka_bootstrap=kafka_bootstrap, registration_url=internal_url,
            smtp_port=catcher.port, smtp_tls="none", lease_s=2.0, retry_base_s=0.2, poll_interval_s=0.05,
            smtp_timeout_s=0.4, contact_timeout_s=0.4, webhook_timeout_s=0.4,
        )
        pool = await create_pool(database_url, "notifications", max_size=6)
        await migrate(pool, "notifications", "services.notifications.migrations")
        contacts = Contacts(internal_url, settings.internal_token, 5)

        async def register(marketing: bool = False, **contact) -> str:
            body = participant_body(keywords=["mobility"], offers=[], contact={"language": "pl", **contact},
                                    consent={"marketing": marketing})
            async with httpx.AsyncClient(base_url=reg_url) as http:
                r = await http.post("/v1/participants", json=body, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 201, r.text
            return r.json()["id"]

        async def plan(recipient: str, template: str = "exchange_cancelled", context: dict | None = None) -> str:
            event_id = str(uuid.uuid4())
            async with pool.acquire() as conn:
                assert await store.plan(conn, event_id=event_id, event_type="exchange.cancelled", recipient=recipient,
                                        channel="email", template=template, context=context or {})
            return event_id

        async def rows():
            return await pool.fetch("SELECT * FROM deliveries ORDER BY created_at")

        async def sent_events():
            return [json.loads(r["envelope"]) for r in await pool.fetch(
                "SELECT envelope FROM outbox WHERE event_type LIKE 'notification.%' ORDER BY position")]

        w = type("World", (), {})()
        w.settings, w.pool, w.catcher, w.contacts = settings, pool, catcher, contacts
        w.register, w.plan, w.rows, w.sent_events, w.reg_url = register, plan, rows, sent_events, internal_url
        w.sender = lambda **kw: EmailSender(pool, settings.model_copy(update=kw), contacts)
        try:
            yield w
        finally:
            await contacts.close()
            await pool.close()
            catcher.stop()


async def test_a_planned_mail_arrives_once_and_a_second_plan_of_the_same_event_adds_nothing(world):
    pid = await world.register()
    event_id = await world.plan(pid)
    async with world.pool.acquire() as conn:
        again = await store.plan(conn, event_id=event_id, event_type="exchange.cancelled", recipient=pid,
                                 channel="email", template="exchange_cancelled", context={})
    assert again is False
    assert await world.sender().loop.drain_once() == 1
    [row] = await world.rows()
    assert row["status"] == "sent" and row["attempts"] == 1
    [msg] = world.catcher.to("daniel@score.example")
    assert msg["Subject"] == "Twoja wymiana została anulowana"
    assert msg["Message-ID"] == message_id_for(str(row["id"]))
    assert await world.sender().loop.drain_once() == 0, "a restarted sender finds nothing left to send"
    assert len(world.catcher.messages) == 1
    [event] = await world.sent_events()
    assert event["type"] == "notification.sent" and event["data"]["recipient_ref"] == pid
    assert event["data"]["trigger_event_id"] == event_id and "score.example" not in json.dumps(event)


async def test_two_replicas_claiming_side_by_side_send_each_mail_exactly_once(world):
    pid = await world.register()
    for _ in range(30):
        await world.plan(pid)
    # A lease long enough for a loaded test machine: this test is about claiming, not about crashes.
    a, b = world.sender(lease_s=30.0, smtp_timeout_s=5.0), world.sender(lease_s=30.0, smtp_timeout_s=5.0)
    runs = [asyncio.create_task(a.loop.run()), asyncio.create_task(b.loop.run())]
    try:
        await eventually(lambda: _all_sent(world), timeout=30)
    finally:
        for t in runs:
            t.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
    ids = [m["Message-ID"] for m in world.catcher.messages]
    assert len(ids) == 30 and len(set(ids)) == 30
    assert len(await world.sent_events()) == 30


async def _all_sent(world):
    rows = await world.rows()
    return rows and all(r["status"] == "sent" for r in rows)


async def test_a_sender_that_died_after_claiming_but_before_smtp_is_replaced_and_the_mail_sent_once(world):
    pid = await world.register()
    await world.plan(pid)
    async with world.pool.acquire() as conn:
        [claimed] = await store.claim(conn, "email", 10, world.settings.lease_s)  # ...and then the process died
    assert await world.sender().loop.drain_once() == 0, "a live lease keeps the row from other senders"
    assert await age_leases(world.pool, world.settings.lease_s + 0.1) == 1
    assert await world.sender().loop.drain_once() == 1
    [row] = await world.rows()
    assert row["status"] == "sent" and row["attempts"] == 2 and row["attempt_id"] != claimed["attempt_id"]
    assert len(world.catcher.messages) == 1


class _CrashAfterSmtp(EmailSender):
    async def send(self, row):
        await super().send(row)
        raise asyncio.CancelledError("process killed after the SMTP server accepted DATA")


async def test_a_crash_between_smtp_accept_and_commit_resends_once_with_the_same_message_id(world):
    """The documented residual window: SMTP cannot commit with our database, so this is the one case of
    a second copy, and the copy is identifiable by its Message-ID."""
    pid = await world.register()
    await world.plan(pid)
    crashed = _CrashAfterSmtp(world.pool, world.settings, world.contacts)
    await crashed.loop.drain_once()
    [row] = await world.rows()
    assert row["status"] == "sending" and len(world.catcher.messages) == 1
    assert await age_leases(world.pool, world.settings.lease_s + 0.1) == 1
    assert await world.sender().loop.drain_once() == 1
    [row] = await world.rows()
    first, second = world.catcher.messages
    assert first["Message-ID"] == second["Message-ID"] == message_id_for(str(row["id"]))
    assert row["status"] == "sent" and row["attempts"] == 2
    assert len(await world.sent_events()) == 1, "the outcome is still recorded once"


async def test_a_stale_sender_cannot_overwrite_the_outcome_of_the_current_attempt(world):
    pid = await world.register()
    await world.plan(pid)
    async with world.pool.acquire() as conn:
        [old] = await store.claim(conn, "email", 1, 0.01)
        await asyncio.sleep(0.05)
        [current] = await store.claim(conn, "email", 1, 60)
        assert not await store.mark_sent(conn, old)
        assert await store.mark_sent(conn, current)


async def test_a_temporarily_refusing_server_gets_the_mail_on_a_later_attempt(world):
    pid = await world.register()
    await world.plan(pid)
    world.catcher.before_accept = lambda msg: "451 4.3.0 try again later"
    sender = world.sender()
    await sender.loop.drain_once()
    [row] = await world.rows()
    assert row["status"] == "planned" and row["attempts"] == 1 and "451" in row["last_error"]
    world.catcher.before_accept = None
    await eventually(lambda: sender.loop.drain_once(), timeout=10, interval=0.1)
    [row] = await world.rows()
    assert row["status"] == "sent" and row["attempts"] == 2 and len(world.catcher.messages) == 1


async def test_a_permanent_refusal_fails_the_delivery_and_says_so_in_an_event(world):
    pid = await world.register()
    await world.plan(pid)
    world.catcher.before_accept = lambda msg: "550 5.1.1 mailbox unavailable"
    await world.sender().loop.drain_once()
    [row] = await world.rows()
    assert row["status"] == "failed" and "550" in row["last_error"]
    [event] = await world.sent_events()
    assert event["type"] == "notification.failed" and event["data"]["attempts"] == 1


async def test_an_unreachable_smtp_server_is_retried_not_lost(world):
    pid = await world.register()
    await world.plan(pid)
    down = NotificationsSettings(**{**world.settings.model_dump(), "smtp_port": free_port()})
    await EmailSender(world.pool, down, world.contacts).loop.drain_once()
    [row] = await world.rows()
    assert row["status"] == "planned" and row["attempts"] == 1
    await eventually(lambda: world.sender().loop.drain_once(), timeout=10, interval=0.1)
    assert len(world.catcher.messages) == 1


async def test_an_erased_participant_gets_nothing_and_their_stored_address_and_body_are_deleted(world):
    pid = await world.register()
    await world.plan(pid)
    await world.sender().loop.drain_once()
    [row] = await world.rows()
    assert row["address"] == "daniel@score.example" and "Daniel Hekman" in row["body_text"]
    later = await world.plan(pid)
    async with httpx.AsyncClient(base_url=world.reg_url) as http:
        r = await http.get(f"/internal/v1/contacts/{pid}", headers={"Authorization": f"Bearer {world.settings.internal_token.get_secret_value()}"})
        assert r.status_code == 200
    async with world.pool.acquire() as conn, conn.transaction():
        await store.erase(conn, pid)
    # Sent and planned alike: the rows go, with the address, the rendered mail and any error text.
    assert [r for r in await world.rows() if r["recipient"] == pid] == []
    assert later is not None
    async with world.pool.acquire() as conn:
        assert not await store.plan(conn, event_id=uuid.uuid4(), event_type="x", recipient=pid, channel="email",
                                    template="exchange_cancelled", context={})
    assert await world.sender().loop.drain_once() == 0
    assert len(world.catcher.messages) == 1


async def test_a_participant_unknown_to_registration_is_sent_nothing(world):
    await world.plan(str(uuid.uuid4()))
    await world.sender().loop.drain_once()
    [row] = await world.rows()
    assert row["status"] == "cancelled" and world.catcher.messages == []


async def test_non_essential_mail_needs_marketing_consent_and_honours_unsubscribe(world):
    without = await world.register(email="no@consent.example")
    consenting = await world.register(marketing=True, email="yes@consent.example", language="es")
    ctx = {"counterpart_id": without, "activity_id": None}
    await world.plan(without, "feedback_request", ctx)
    await world.plan(consenting, "feedback_request", ctx)
    await world.sender().loop.drain_once()
    statuses = {r["recipient"]: r["status"] for r in await world.rows()}
    assert statuses == {without: "skipped", consenting: "sent"}
    [msg] = world.catcher.messages
    assert msg["Subject"].startswith("¿Qué tal fue su reunión")
    link = msg["List-Unsubscribe"].strip("<>")
    assert link.startswith(f"{world.settings.public_url}/v1/unsubscribe/{consenting}?token=")
    assert link in msg.get_body(("plain",)).get_content()
    async with world.pool.acquire() as conn:
        await store.unsubscribe(conn, consenting)
    await world.plan(consenting, "feedback_request", ctx)
    await world.plan(consenting, "exchange_cancelled")
    await world.sender().loop.drain_once()
    assert [r["status"] for r in await world.rows()][-2:] == ["skipped", "sent"], "essential mail still arrives"


class _FlakyPool:
    """The database connection fails a few times right after the SMTP server accepted a message."""

    def __init__(self, pool) -> None:
        self.pool = pool
        self.fail_next = 0

    def acquire(self, *args, **kwargs):
        if self.fail_next > 0:
            self.fail_next -= 1
            raise ConnectionResetError("database connection lost")
        return self.pool.acquire(*args, **kwargs)


async def test_a_database_hiccup_after_the_smtp_accept_is_ridden_out_without_a_second_copy(world):
    pid = await world.register()
    await world.plan(pid)
    flaky = _FlakyPool(world.pool)

    def accepted(msg):
        flaky.fail_next = 2
        return None

    world.catcher.before_accept = accepted
    await EmailSender(flaky, world.settings, world.contacts).loop.drain_once()
    [row] = await world.rows()
    assert row["status"] == "sent" and row["attempts"] == 1
    await age_leases(world.pool, world.settings.lease_s + 0.1)  # had it kept one, it would be over now
    assert await world.sender().loop.drain_once() == 0
    assert len(world.catcher.messages) == 1


async def test_unanswered_requests_come_as_one_digest_per_participant_and_day(world):
    from datetime import UTC, datetime, timedelta

    from services.notifications import handlers
    from shared.events import new_envelope
    from shared.events.catalogue import MeetingAccepted, MeetingRequested

    target = await world.register(email="target@digest.example", language="fr")
    asking = [await world.register(email=f"asker{i}@digest.example") for i in range(3)]
    async with world.pool.acquire() as conn, conn.transaction():
        for requester in asking:
            await store.upsert_participant(conn, requester, "mazovia-ict", f"Org {requester[:4]}")
        requests = [
            MeetingRequested(meeting_id=str(uuid.uuid4()), activity_id="a1", requester_id=r, target_id=target,
                             expires_at=datetime.now(UTC) + timedelta(days=2))
            for r in asking
        ]
        for e in requests:
            await handlers.meeting_requested(conn, new_envelope(e, source="/test"))
        answered = requests[0]
        await handlers.meeting_answered(conn, new_envelope(MeetingAccepted(
            meeting_id=answered.meeting_id, activity_id="a1", requester_id=answered.requester_id,
            target_id=target), source="/test"))
    await world.sender().loop.drain_once()
    world.catcher.messages.clear()
    world.catcher.recipients.clear()
    now = datetime.now(UTC)
    async with world.pool.acquire() as conn, conn.transaction():
        assert await handlers.plan_digests(conn, min_age_s=0, now=now) == 1
        assert await handlers.plan_digests(conn, min_age_s=0, now=now) == 0, "once a day, however often it runs"
        assert await handlers.plan_digests(conn, min_age_s=3600, now=now) == 0, "requests younger than that wait"
    await world.sender().loop.drain_once()
    [digest] = world.catcher.messages
    assert str(digest["Subject"]).strip() == "2 demandes de rendez-vous attendent votre réponse"
    text = digest.get_body(("plain",)).get_content()
    assert f"Org {asking[1][:4]}, Org {asking[2][:4]}" in text and f"Org {asking[0][:4]}" not in text
