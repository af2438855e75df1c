"""Notifications end to end in one process: the real registration service over HTTP (participants and
the contact lookup), a real Kafka-API broker, real PostgreSQL, a real SMTP server (aiosmtpd) and real
HTTP webhook receivers. Events of services not under test (exchanges, meetings) are published as those
services would: CloudEvents on their topics."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from services.notifications.adapters.mailcatcher import MailCatcher
from services.notifications.bootstrap import build
from services.notifications.domain import signing
from services.notifications.settings import NotificationsSettings
from services.registration import seed
from services.registration.bootstrap import build as build_registration
from services.registration.settings import RegistrationSettings
from shared.events import new_envelope
from shared.events.catalogue import (
    ActivityCreated, ExchangeApproved, ExchangeCancelled, ExchangeCompleted, MeetingAccepted, MeetingDeclined,
    MeetingExpired, MeetingHeld, MeetingRequested, MeetingScheduled, MeetingSettings, MeetingUnscheduled,
)
from shared.events.envelope import encode
from shared.messaging.kafka import new_producer
from tests.support.database import module_database_url  # noqa: F401 (fixture)
from tests.support.payloads import person as participant_body_of
from tests.support.polling import eventually
from tests.support.services import broker_bootstrap, issue_keys, serving_http as serving  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


def person(name, email, language, marketing, org):
    """A body without matchmaking content (no city, keywords or offers): only the person matters here."""
    return participant_body_of(name, email, organisation=org, language=language, marketing=marketing,
                               city=None, keywords=[], offers=[])


class Receiver:
    """A partner's webhook endpoint: records what arrives; /flaky fails twice, /hang never answers."""

    def __init__(self) -> None:
        self.received: dict[str, list[tuple[dict, bytes]]] = {}
        self.flaky_failures = 2
        self.hanging = 0
        self.release = asyncio.Event()
        app = FastAPI()

        @app.post("/{name}")
        async def hook(name: str, request: Request):
            body = await request.body()
            if name == "hang":
                self.hanging += 1
                await self.release.wait()
            if name == "flaky" and self.flaky_failures > 0:
                self.flaky_failures -= 1
                return Response(status_code=503)
            self.received.setdefault(name, []).append((dict(request.headers), body))
            return Response(status_code=204)

        self.app = app


class Stack:
    pass


@pytest.fixture(scope="module")
async def stack(module_database_url, broker_bootstrap, module_topic_namespace):
    database_url, kafka_bootstrap = module_database_url, broker_bootstrap
    s = Stack()
    s.namespace = module_topic_namespace
    registration = build_registration(RegistrationSettings(
        database_url=database_url, kafka_bootstrap=kafka_bootstrap, consumer_session_timeout_ms=6000,
        relay_poll_interval_s=0.05, topic_namespace=s.namespace.prefix,
    ))
    s.catcher = MailCatcher().start()
    s.receiver = Receiver()
    s.bootstrap = kafka_bootstrap
    async with serving(registration.app()) as reg_url, serving(s.receiver.app) as hooks_url, \
            serving(registration.internal_app()) as internal_url:
        async with registration.pool.acquire() as conn:
            await seed.seed_clusters(conn)
            s.keys = await issue_keys(conn)
        s.registration = httpx.AsyncClient(base_url=reg_url)
        s.hooks_url = hooks_url
        s.settings = NotificationsSettings(
            database_url=database_url, kafka_bootstrap=kafka_bootstrap, registration_url=internal_url,
            smtp_port=s.catcher.port, smtp_tls="none", consumer_session_timeout_ms=6000, poll_interval_s=0.05,
            relay_poll_interval_s=0.05, retry_base_s=0.2, lease_s=12.0, smtp_timeout_s=1.5, contact_timeout_s=1.5,
            webhook_timeout_s=4.0, webhook_concurrency=6, webhook_per_endpoint=2,
            # The receivers listen on loopback over plain http: allowed here, refused by default.
            webhook_allow_http=True, webhook_allowed_destinations=("127.0.0.1",),
            topic_namespace=s.namespace.prefix,
        )
        s.service = None
        await start_notifications(s)
        try:
            yield s
        finally:
            s.receiver.release.set()
            await stop_notifications(s)
            await s.registration.aclose()
            s.catcher.stop()


async def start_notifications(s: Stack) -> None:
    s.service = build(s.settings)
    s.app = s.service.app()
    await s.service.start()
    s.api = httpx.AsyncClient(transport=httpx.ASGITransport(app=s.app), base_url="http://notifications")

    async def keys_replicated():
        r = await s.api.get("/v1/notifications", headers=auth(s, "coordinator"))
        return r.status_code == 200

    await eventually(keys_replicated, timeout=30)
    await eventually(lambda: asyncio.sleep(0, all(r.assigned for r in s.service.runners)), timeout=30)


async def stop_notifications(s: Stack) -> None:
    await s.api.aclose()
    await asyncio.wait_for(s.service.stop(), 20)


def auth(s: Stack, who: str) -> dict:
    return {"Authorization": f"Bearer {s.keys[who]}"}


async def register(s: Stack, who: str, body: dict) -> str:
    r = await s.registration.post("/v1/participants", json=body, headers=auth(s, who))
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def publish(s: Stack, *envelopes) -> None:
    producer = new_producer(s.bootstrap, "test-publisher", 10)
    await producer.start()
    try:
        for e in envelopes:
            key, value, headers = encode(e)
            await producer.send_and_wait(s.namespace.topic(e.topic.name), value, key=key, headers=headers)
    finally:
        await producer.stop()


def event(payload):
    return new_envelope(payload, source="/test")


async def deliveries(s: Stack, who: str = "coordinator", **params) -> list[dict]:
    r = await s.api.get("/v1/notifications", params=params, headers=auth(s, who))
    assert r.status_code == 200, r.text
    return r.json()


def subjects(s: Stack, address: str) -> list[str]:
    return sorted(str(m["Subject"]).strip() for m in s.catcher.to(address))


class Pair:
    """Two fresh participants of different clusters and languages; Anna without marketing consent."""

    a: str
    b: str
    anna: str
    jonas: str


async def two_participants(s: Stack) -> Pair:
    p = Pair()
    tag = uuid.uuid4().hex[:8]
    p.anna, p.jonas = f"anna-{tag}@score.example", f"jonas-{tag}@labs.example"
    p.a = await register(s, "mazovia", person("Anna Nowak", p.anna, "de", False, "Score Digital"))
    p.b = await register(s, "gaia", person("Jonas Petraitis", p.jonas, "lt", True, "Kaunas <Labs>"))
    await eventually(lambda: asyncio.sleep(0, s.catcher.to(p.anna) and s.catcher.to(p.jonas)), timeout=30)
    return p


def mails(s: Stack, *addresses: str) -> list:
    return [m for address in addresses for m in s.catcher.to(address)]


async def test_each_event_type_renders_and_arrives_once_even_when_events_come_again(stack):
    s = stack
    p = await two_participants(s)
    a, b = p.a, p.b
    assert subjects(s, p.anna) == ["Ihre ClusterXchange-Registrierung ist bestätigt"]
    assert subjects(s, p.jonas) == ["Jūsų registracija ClusterXchange patvirtinta"]

    activity, exchange, meeting = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    people = {"meeting_id": meeting, "activity_id": activity, "requester_id": a, "target_id": b}
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    events = [
        event(ActivityCreated(activity_id=activity, kind="matchmaking_event", title="Vilnius Tech Days",
                              host_cluster_id="business-hive-vilnius", country="LT",
                              starts_on=starts.date(), ends_on=starts.date(),
                              meetings=MeetingSettings(day_start="09:00", day_end="17:00", slot_minutes=30, tables=5,
                                                       timezone="Europe/Vilnius"))),
        event(ExchangeApproved(exchange_id=exchange, participant_id=a, sending_cluster_id="mazovia-ict",
                               host_cluster_id="business-hive-vilnius", lump_sum_eur=1850,
                               approved_at=datetime.now(UTC))),
        event(ExchangeCompleted(exchange_id=exchange, participant_id=a, sending_cluster_id="mazovia-ict",
                                completed_on=starts.date(), working_days=4, meetings_held=3, satisfaction=5,
                                outcomes=("joint_project",))),
        event(MeetingRequested(**people, expires_at=starts - timedelta(days=1))),
        event(MeetingAccepted(**people)),
        event(MeetingDeclined(**people)),
        event(MeetingExpired(**people)),
        event(MeetingScheduled(**people, schedule_version=1, starts_at=starts, ends_at=starts + timedelta(minutes=30),
                               table=2)),
        event(MeetingUnscheduled(**people, schedule_version=2, reason="participant unavailable")),
        event(MeetingHeld(**people)),
    ]
    # An activity exists long before its meetings; they travel on different topics, so wait for it here.
    await publish(s, events[0])
    await eventually(lambda: s.service.pool.fetchval("SELECT true FROM activities WHERE activity_id = $1", activity))
    await publish(s, *events[1:])
    await eventually(lambda: asyncio.sleep(0, len(mails(s, p.anna, p.jonas)) >= 2 + 11), timeout=30)

    local = f"{(starts + timedelta(hours=2)):%Y-%m-%d %H:%M} (Europe/Vilnius)"
    assert subjects(s, p.anna) == sorted([
        "Ihre ClusterXchange-Registrierung ist bestätigt",
        "Ihr Austausch wurde genehmigt",
        "Wir haben Ihren Abschlussbericht erhalten",
        "Kaunas <Labs> hat Ihre Terminanfrage angenommen",
        "Kaunas <Labs> hat Ihre Terminanfrage abgelehnt",
        "Ihre Terminanfrage ist abgelaufen",
        f"Ihre Agenda: Treffen mit Kaunas <Labs> um {local}",
        "Agenda geändert: Treffen mit Kaunas <Labs> entfällt",
    ]), "Anna has no marketing consent, so no feedback request"
    assert subjects(s, p.jonas) == sorted([
        "Jūsų registracija ClusterXchange patvirtinta",
        "Naujas susitikimo prašymas iš Score Digital",
        f"Jūsų darbotvarkė: susitikimas su Score Digital {local}",
        "Darbotvarkės pakeitimas: susitikimas su Score Digital pašalintas",
        "Kaip sekėsi susitikimas su Score Digital?",
    ])
    [approved] = [m for m in s.catcher.to(p.anna) if "genehmigt" in str(m["Subject"])]
    assert "1850 EUR" in approved.get_body(("plain",)).get_content()
    [accepted] = [m for m in s.catcher.to(p.anna) if "angenommen" in str(m["Subject"])]
    assert "Kaunas &lt;Labs&gt;" in accepted.get_body(("html",)).get_content()
    for address in (p.anna, p.jonas):
        calendars = [
            part.get_content() for m in s.catcher.to(address) for part in m.iter_attachments()
            if part.get_content_type() == "text/calendar"
        ]
        [request] = [c for c in calendars if "METHOD:REQUEST" in c]
        [cancel] = [c for c in calendars if "METHOD:CANCEL" in c]
        import icalendar  # the invitations as a calendar client reads them

        for text, status in ((request, "CONFIRMED"), (cancel, "CANCELLED")):
            cal = icalendar.Calendar.from_ical(text)
            [vevent] = cal.walk("VEVENT")
            assert str(vevent["UID"]) == f"{meeting}@clusterxchange" and str(vevent["STATUS"]) == status
            assert vevent["DTSTART"].params["TZID"] == "Europe/Vilnius" and [z.tz_name for z in cal.timezones] == [
                "Europe/Vilnius"]
            assert vevent.decoded("DTSTART") == starts, "local time of the activity's zone, the same instant"
            assert str(vevent["ATTENDEE"]) == f"mailto:{address}", "the recipient is the only attendee"
            assert str(vevent["ORGANIZER"]) == "mailto:no-reply@clusterxchange.eu"
        assert int(icalendar.Calendar.from_ical(cancel).walk("VEVENT")[0]["SEQUENCE"]) > int(
            icalendar.Calendar.from_ical(request).walk("VEVENT")[0]["SEQUENCE"])
    [feedback] = [m for m in s.catcher.to(p.jonas) if "Kaip" in str(m["Subject"])]
    assert feedback["List-Unsubscribe"]

    before = await deliveries(s, recipient=a) + await deliveries(s, recipient=b)
    sentinels = [
        event(ExchangeCancelled(exchange_id=exchange, participant_id=a, sending_cluster_id="mazovia-ict")),
        event(MeetingExpired(**{**people, "meeting_id": str(uuid.uuid4())})),
    ]
    # The same events again (same ids), then one new event on each of their partitions (same keys), so
    # when the new ones are handled, the repeated ones before them have been too.
    await publish(s, *events, *sentinels)
    await eventually(lambda: asyncio.sleep(0, len(mails(s, p.anna, p.jonas)) >= 2 + 11 + 2), timeout=30)
    after = await deliveries(s, recipient=a) + await deliveries(s, recipient=b)
    assert len(after) == len(before) + 2, "the redelivered events planned nothing"
    await eventually(lambda: _settled(s, a, b), timeout=20)
    assert len(mails(s, p.anna, p.jonas)) == 2 + 11 + 2
    assert len({str(m["Message-ID"]) for m in mails(s, p.anna, p.jonas)}) == 15

    by_status: dict[str, list[str]] = {}
    for r in after:
        by_status.setdefault(r["status"], []).append(r["template"])
    assert by_status["skipped"] == ["feedback_request"]
    assert sorted(by_status["cancelled"]) == ["meeting_reminder"] * 4, "unscheduling cancelled the reminders"
    assert all(r["attempts"] == 1 for r in after if r["status"] == "sent")
    sent = await s.service.pool.fetch(
        "SELECT envelope::text AS e FROM outbox WHERE event_type = 'notification.sent' "
        "AND envelope->'data'->>'recipient_ref' = ANY($1::text[])", [a, b])
    assert len(sent) == 15 and not any("score.example" in r["e"] or "labs.example" in r["e"] for r in sent)


async def _settled(s, *recipients):
    rows = [r for who in recipients for r in await deliveries(s, recipient=who)]
    return all(r["status"] != "sending" and not (r["status"] == "planned" and r["template"] != "meeting_reminder")
               for r in rows)


async def test_notifications_listing_filters_and_partners_see_their_own_cluster_only(stack):
    s = stack
    p = await two_participants(s)
    mazovia = await deliveries(s, "mazovia")
    assert {d["cluster_id"] for d in mazovia} == {"mazovia-ict"}
    assert p.a in {d["recipient"] for d in mazovia} and p.b not in {d["recipient"] for d in mazovia}
    assert p.b in {d["recipient"] for d in await deliveries(s, "gaia")}
    [mine] = await deliveries(s, recipient=p.a)
    assert mine["channel"] == "email" and mine["template"] == "registration_confirmed"
    assert mine["status"] == "sent" and mine["attempts"] == 1 and mine["event_type"] == "participant.registered"
    assert await deliveries(s, event_id=mine["event_id"]) == [mine]
    assert await deliveries(s, "gaia", recipient=p.a) == []
    bad = await s.api.get("/v1/notifications", params={"event_id": "nope"}, headers=auth(s, "coordinator"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "event_id"
    assert (await s.api.get("/v1/notifications")).status_code == 401


async def test_erasure_deletes_stored_addresses_and_bodies_and_later_events_send_nothing(stack):
    s = stack
    p = await two_participants(s)
    r = await s.registration.delete(f"/v1/participants/{p.a}", headers=auth(s, "mazovia"))
    assert r.status_code == 202, r.text

    async def erased():
        # The person's deliveries go entirely (address, rendered mail, errors); the tombstone stays.
        rows = await s.service.pool.fetch("SELECT 1 FROM deliveries WHERE recipient = $1", p.a)
        return not rows and await s.service.pool.fetchval(
            "SELECT count(*) FROM erased_participants WHERE participant_id = $1", p.a)

    await eventually(erased, timeout=30)
    # A later event about the erased participant, followed on its partition by one about Jonas.
    exchange = str(uuid.uuid4())
    await publish(
        s,
        event(ExchangeApproved(exchange_id=exchange, participant_id=p.a, sending_cluster_id="mazovia-ict",
                               host_cluster_id="gaia", lump_sum_eur=900, approved_at=datetime.now(UTC))),
        event(ExchangeCancelled(exchange_id=exchange, participant_id=p.b, sending_cluster_id="gaia")),
    )
    await eventually(lambda: asyncio.sleep(0, len(s.catcher.to(p.jonas)) == 2), timeout=30)
    assert await deliveries(s, recipient=p.a) == []  # nothing planned for them after the erasure either
    assert len(s.catcher.to(p.anna)) == 1


# --- webhooks ---------------------------------------------------------------------------------------


async def subscribe(s: Stack, who: str, path: str, types: list[str], secret: str | None = None) -> dict:
    body = {"url": f"{s.hooks_url}/{path}", "event_types": types} | ({"secret": secret} if secret else {})
    r = await s.api.post("/v1/webhooks", json=body, headers=auth(s, who))
    assert r.status_code == 201, r.text
    return r.json()


async def test_webhook_subscription_is_validated_and_scoped_to_the_partners_cluster(stack):
    s = stack
    bad_type = await s.api.post("/v1/webhooks", json={"url": f"{s.hooks_url}/x", "event_types": ["exchange.exploded"]},
                                headers=auth(s, "mazovia"))
    assert bad_type.status_code == 422 and bad_type.json()["errors"][0]["field"].startswith("event_types")
    bad_url = await s.api.post("/v1/webhooks", json={"url": "ftp://x", "event_types": ["exchange.approved"]},
                               headers=auth(s, "mazovia"))
    assert bad_url.status_code == 422 and bad_url.json()["errors"][0]["field"] == "url"
    ops = await s.api.post("/v1/webhooks", json={"url": f"{s.hooks_url}/x", "event_types": ["exchange.approved"]},
                           headers=auth(s, "ops"))
    assert ops.status_code == 403
    created = await subscribe(s, "mazovia", "mazovia", ["exchange.approved"])
    assert created["cluster_id"] == "mazovia-ict" and created["secret"].startswith("whsec_")
    assert "secret" not in await subscribe(s, "gaia", "gaia", ["exchange.approved"], secret="a-secret-of-gaia-16+")
    coordinator = await subscribe(s, "coordinator", "all", ["exchange.approved"])
    assert coordinator["cluster_id"] is None

    sent = event(ExchangeApproved(exchange_id=str(uuid.uuid4()), participant_id=str(uuid.uuid4()),
                                  sending_cluster_id="mazovia-ict", host_cluster_id="business-hive-vilnius",
                                  lump_sum_eur=1200, approved_at=datetime.now(UTC)))
    await publish(s, sent)

    def arrived(name):
        return [(h, b) for h, b in s.receiver.received.get(name, []) if json.loads(b)["id"] == sent.id]

    await eventually(lambda: asyncio.sleep(0, arrived("mazovia") and arrived("all")), timeout=30)
    [(headers, body)] = arrived("mazovia")
    assert json.loads(body)["data"]["lump_sum_eur"] == 1200
    # The documented algorithm, computed here independently of the service's code.
    key = base64.b64decode(created["secret"].removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == expected
    assert signing.verify(created["secret"], headers["webhook-id"], headers["webhook-timestamp"], body,
                          headers["webhook-signature"])
    assert not arrived("gaia"), "gaia's partner hook must not hear about a mazovia exchange"

    async def recorded():
        hooks = [d for d in await deliveries(s, "mazovia", event_id=sent.id) if d["channel"] == "webhook"]
        return [(d["status"], d["recipient"]) for d in hooks] == [("sent", created["id"])]

    await eventually(recorded, timeout=10)


async def test_webhooks_retry_on_5xx_and_a_hanging_receiver_delays_neither_mail_nor_other_hooks(stack):
    s = stack
    p = await two_participants(s)
    hang = await subscribe(s, "coordinator", "hang", ["exchange.completed"])
    flaky = await subscribe(s, "mazovia", "flaky", ["exchange.completed"])
    fine = await subscribe(s, "mazovia", "fine", ["exchange.completed"])
    completed = [
        event(ExchangeCompleted(
            exchange_id=str(uuid.uuid4()), participant_id=p.a, sending_cluster_id="mazovia-ict",
            completed_on=datetime.now(UTC).date(), working_days=5, meetings_held=2, satisfaction=4, outcomes=("none",)))
        for _ in range(4)
    ]
    await publish(s, *completed)
    # 12 hook deliveries and 4 mails, 6 webhook slots: the hanging endpoint may hold 2 of them, no more.
    await eventually(lambda: asyncio.sleep(0, s.receiver.hanging >= 1), timeout=30)
    await eventually(lambda: asyncio.sleep(0, len(s.catcher.to(p.anna)) == 1 + 4
                                           and len(s.receiver.received.get("fine", [])) == 4), timeout=30)
    rows = [d for e in completed for d in await deliveries(s, event_id=e.id) if d["recipient"] == hang["id"]]
    in_flight = sum(d["status"] == "sending" for d in rows)
    assert 1 <= in_flight <= 2, (
        "mail and the other hooks were delivered while hanging requests were still open, and those held "
        "no more than their share of the slots")

    async def flaky_done():
        got = [d for e in completed for d in await deliveries(s, event_id=e.id) if d["recipient"] == flaky["id"]]
        return all(d["status"] == "sent" for d in got) and got

    got = await eventually(flaky_done, timeout=30)
    assert sum(d["attempts"] for d in got) == 4 + 2, "the two 503 answers were retried"
    fine_rows = [d for e in completed for d in await deliveries(s, event_id=e.id) if d["recipient"] == fine["id"]]
    assert [d["attempts"] for d in fine_rows] == [1, 1, 1, 1]
    assert {h["webhook-id"] for h, _ in s.receiver.received["flaky"]} == {d["id"] for d in got}, (
        "webhook-id is the delivery id, the same on every retry")

    async def hang_timed_out_and_is_retried():
        rows = [d for e in completed for d in await deliveries(s, event_id=e.id) if d["recipient"] == hang["id"]]
        return any(d["attempts"] >= 2 for d in rows)

    await eventually(hang_timed_out_and_is_retried, timeout=30)
    s.receiver.release.set()
    await eventually(lambda: asyncio.sleep(0, len(s.receiver.received.get("hang", [])) >= 4), timeout=30)


# --- reminders (last: restarts the service) ---------------------------------------------------------


async def test_reminders_are_rows_that_move_with_the_meeting_are_cancelled_and_survive_a_restart(stack):
    s = stack
    p = await two_participants(s)
    a, b = p.a, p.b
    activity = str(uuid.uuid4())
    soon, later = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC).replace(microsecond=0)

    def scheduled(meeting, starts, version):
        return event(MeetingScheduled(meeting_id=meeting, activity_id=activity, requester_id=a, target_id=b,
                                      schedule_version=version, starts_at=starts,
                                      ends_at=starts + timedelta(minutes=30)))

    def reminder_mails():
        return [m for m in mails(s, p.anna, p.jonas) if str(m["Subject"]).strip().startswith(("Erinnerung", "Priminimas"))]

    async def reminders(meeting):
        return await s.service.pool.fetch(
            "SELECT recipient, status, due_at FROM deliveries WHERE meeting_id = $1 AND template = 'meeting_reminder'",
            meeting)

    soon_start = now + timedelta(minutes=15, seconds=10)
    await publish(s, scheduled(soon, soon_start, 1), scheduled(later, now + timedelta(days=2), 1))
    await eventually(lambda: _count(reminders(later), 4), timeout=30)
    soon_rows = await reminders(soon)
    assert len(soon_rows) == 2, "only the 15-minute reminder: the 24-hour one is already past"
    assert {r["due_at"] for r in soon_rows} == {soon_start - timedelta(minutes=15)}

    # A restart before the reminder is due: it is a row, not a timer, so the new process sends it.
    await stop_notifications(s)
    assert reminder_mails() == [], "not yet due when the old process stopped"
    await start_notifications(s)
    await eventually(lambda: asyncio.sleep(0, len(reminder_mails()) == 2), timeout=30)
    assert {r["status"] for r in await reminders(soon)} == {"sent"}

    moved = now + timedelta(days=2, hours=1)
    await publish(s, scheduled(later, moved, 2))

    async def moved_ok():
        rows = await reminders(later)
        planned = [r for r in rows if r["status"] == "planned"]
        expected = {moved - timedelta(hours=24), moved - timedelta(minutes=15)}
        return len(rows) == 8 and len(planned) == 4 and {r["due_at"] for r in planned} == expected and rows

    rows = await eventually(moved_ok, timeout=30)
    assert sum(r["status"] == "cancelled" for r in rows) == 4

    await publish(s, event(MeetingUnscheduled(meeting_id=later, activity_id=activity, requester_id=a, target_id=b,
                                              schedule_version=3, reason="slot dropped")))
    await eventually(lambda: _all_cancelled(reminders(later)), timeout=30)
    assert len(reminder_mails()) == 2


async def _count(rows_coro, n):
    return len(await rows_coro) == n


async def _all_cancelled(rows_coro):
    rows = await rows_coro
    return rows and all(r["status"] == "cancelled" for r in rows)
