"""The sender workers: claim due deliveries, send them, record the outcome.

Exactly one delivery per (event, recipient, channel):
- Planning is idempotent (unique key, in the consumer's transaction), so redeliveries plan nothing new.
- A claim atomically moves due rows to 'sending' with a fresh attempt id and a lease (SKIP LOCKED, so
  replicas never take the same row). Only the holder of the current attempt id can record the outcome,
  and it records it in one transaction with the notification.sent / .failed event in the outbox.
- Residual window (SMTP has no two-phase commit): if the process dies after the SMTP server answered
  250 to DATA but before the 'sent' row commits — a few milliseconds, one local UPDATE — the lease expires
  and the message is sent again. The copy carries the same Message-ID (derived from the delivery id), so
  it is recognisable and mail systems that deduplicate by Message-ID drop it. A crash at any earlier
  point (before or during the SMTP dialogue) sends it exactly once. Webhooks have the same window and
  the same remedy: the webhook-id header is the delivery id on every attempt.

Each channel runs its own loop with a bounded number of sends in flight, each send with its own
timeout; a hanging webhook receiver holds at most ``webhook_per_endpoint`` slots, each for one timeout,
and never touches e-mail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import httpx

from services.notifications import handlers
from services.notifications.adapters import mailer, store, webhook_http, webhooks
from services.notifications.adapters.contacts import Contacts, ContactUnavailable
from services.notifications.domain import retry, signing
from services.notifications.domain.destinations import DestinationRefused
from services.notifications.domain.errors import mask
from services.notifications.domain.i18n import NON_ESSENTIAL
from services.notifications.domain.ics import meeting_ics
from services.notifications.domain.messages import render
from services.notifications.domain.unsubscribe import unsubscribe_url
from services.notifications.settings import NotificationsSettings
from shared.events.catalogue import NotificationFailed, NotificationSent
from shared.events.envelope import CONTENT_TYPE, upgrade_json
from shared.messaging import outbox
from shared.periodic import run_periodically
from shared.retry import RetryPolicy

log = logging.getLogger(__name__)

# The one retry policy (shared/retry.py): claiming work while the database is away, for ever; recording a
# delivery that was sent, within a quarter of the lease (then the lease expires and it may be sent again).
DATABASE_RETRY = RetryPolicy(base_s=0.2, cap_s=5.0)
RECORD_RETRY = RetryPolicy(base_s=0.05, cap_s=1.0)


class Retry(Exception):
    """Transient failure: try again later with backoff."""


class Final(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class DeliveryLoop:
    def __init__(self, pool: asyncpg.Pool, settings: NotificationsSettings, channel: str,
                 send: Callable[[asyncpg.Record], Awaitable[dict]], capacity: int,
                 per_recipient: int = 1_000_000) -> None:
        self.pool = pool
        self.settings = settings
        self.channel = channel
        self.send = send
        self.capacity = capacity
        self.per_recipient = per_recipient
        self._inflight: set[asyncio.Task] = set()
        self._by_recipient: Counter[str] = Counter()

    async def run(self) -> None:
        backoff = DATABASE_RETRY.backoff()
        try:
            while True:
                claimed = await backoff.until_success(
                    self.claim_and_start, retry_on=(OSError, asyncpg.PostgresError, asyncpg.InterfaceError), log=log,
                    what=f"{self.channel} sender: database unavailable")
                if claimed and len(self._inflight) < self.capacity:
                    continue
                waiters = set(self._inflight) or {asyncio.ensure_future(asyncio.sleep(self.settings.poll_interval_s))}
                await asyncio.wait(waiters, timeout=self.settings.poll_interval_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in self._inflight:
                task.cancel()
            for task in list(self._inflight):
                with contextlib.suppress(BaseException):
                    await task

    async def claim_and_start(self) -> int:
        free = min(self.capacity - len(self._inflight), self.settings.batch_size)
        if free <= 0:
            return 0
        busy = [r for r, n in self._by_recipient.items() if n >= self.per_recipient]
        async with self.pool.acquire() as conn:
            rows = await store.claim(conn, self.channel, free, self.settings.lease_s,
                                     per_recipient=self.per_recipient, busy=busy)
        for row in rows:
            task = asyncio.create_task(self.deliver(row), name=f"{self.channel}-{row['id']}")
            self._inflight.add(task)
            self._by_recipient[row["recipient"]] += 1
            task.add_done_callback(lambda t, r=row["recipient"]: self._finished(t, r))
        return len(rows)

    def _finished(self, task: asyncio.Task, recipient: str) -> None:
        self._inflight.discard(task)
        self._by_recipient[recipient] -= 1
        if self._by_recipient[recipient] <= 0:
            del self._by_recipient[recipient]
        if not task.cancelled() and task.exception() is not None:
            log.error("%s delivery task failed: %r (the row is taken again when its lease ends)",
                      self.channel, task.exception())

    async def drain_once(self) -> int:
        """Claim what is due once and wait for those sends (for tests; the worker uses ``run``)."""
        started = await self.claim_and_start()
        while self._inflight:
            await asyncio.wait(set(self._inflight))
        return started

    async def deliver(self, row: asyncpg.Record) -> None:
        try:
            # The whole attempt ends well inside the lease, so no other sender can claim a row whose send
            # is still under way. An attempt abandoned before the server's final 250 sent nothing; one
            # abandoned in the instant after it falls in the documented window (module docstring).
            outcome = await asyncio.wait_for(self.send(row), self.settings.lease_s / 2)
        except TimeoutError:
            await self._retry_or_fail(row, f"attempt took longer than {self.settings.lease_s / 2:.1f}s")
            return
        except Retry as exc:
            await self._retry_or_fail(row, str(exc))
            return
        except Final as exc:
            if exc.status == "failed":
                log.warning("%s delivery %s failed for good: %s", self.channel, row["id"], exc)
            async with self.pool.acquire() as conn, conn.transaction():
                if await store.mark_final(conn, row, exc.status, str(exc)) and exc.status == "failed":
                    await self._record_failed(conn, row, str(exc))
            return
        except Exception as exc:
            log.exception("%s delivery %s failed unexpectedly", self.channel, row["id"])
            await self._retry_or_fail(row, mask(f"unexpected {type(exc).__name__}: {exc}"))
            return
        await self.on_sent(row, outcome)

    async def on_sent(self, row: asyncpg.Record, outcome: dict) -> None:
        async def record(conn: asyncpg.Connection) -> None:
            if await store.mark_sent(conn, row, **outcome):
                await outbox.record(
                    conn,
                    NotificationSent(
                        notification_id=str(row["id"]), trigger_event_id=str(row["event_id"]), channel=self.channel,
                        template=row["template"], recipient_ref=row["recipient"], attempts=row["attempts"],
                    ),
                    source=self.settings.source, correlation_id=row["correlation_id"],
                    causation_id=str(row["event_id"]),
                )

        # The message is out: a database hiccup now must not turn into a second copy after the lease, so
        # keep trying to record it for as long as the lease leaves room.
        deadline = time.monotonic() + self.settings.lease_s / 4
        backoff = RECORD_RETRY.backoff()
        while True:
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    await record(conn)
                return
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
                    asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as exc:
                delay = backoff.failed()
                if time.monotonic() + delay > deadline:
                    log.error("%s delivery %s was sent but could not be recorded (%r); it may be sent again "
                              "after its lease", self.channel, row["id"], exc)
                    raise
                await asyncio.sleep(delay)

    async def _retry_or_fail(self, row: asyncpg.Record, error: str) -> None:
        s = self.settings
        at = retry.next_attempt(
            attempts=row["attempts"], first_planned=row["first_attempt_at"], now=datetime.now(UTC), base_s=s.retry_base_s, max_s=s.retry_max_s,
            give_up_after_s=s.give_up_after_s,
        )
        log.warning("%s delivery %s attempt %d failed: %s; %s", self.channel, row["id"], row["attempts"], error,
                    f"next attempt at {at:%H:%M:%S}" if at else "giving up")
        async with self.pool.acquire() as conn, conn.transaction():
            if at is not None:
                await store.mark_retry(conn, row, at, error)
            elif await store.mark_final(conn, row, "failed", error):
                await self._record_failed(conn, row, error)

    async def _record_failed(self, conn: asyncpg.Connection, row: asyncpg.Record, error: str) -> None:
        await outbox.record(
            conn,
            NotificationFailed(
                notification_id=str(row["id"]), trigger_event_id=str(row["event_id"]), channel=self.channel,
                template=row["template"], recipient_ref=row["recipient"], attempts=row["attempts"], error=error[:500],
            ),
            source=self.settings.source, correlation_id=row["correlation_id"], causation_id=str(row["event_id"]),
        )


def webhook_body(stored: str) -> bytes:
    """The request body of a planned webhook: the event's CloudEvents JSON. One planned before the
    extension attributes got their spec names goes out with the current names."""
    try:
        return upgrade_json(stored)[0]
    except ValueError:
        return stored.encode()


def _ctx(row) -> dict:
    value = row["context"]
    return json.loads(value) if isinstance(value, str) else dict(value)


class EmailSender:
    def __init__(self, pool: asyncpg.Pool, settings: NotificationsSettings, contacts: Contacts) -> None:
        self.pool = pool
        self.settings = settings
        self.contacts = contacts
        self.smtp = mailer.SmtpServer(
            host=settings.smtp_host, port=settings.smtp_port, tls=settings.smtp_tls, username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            ca_file=settings.smtp_ca_file, timeout_s=settings.smtp_timeout_s,
        )
        self.tls_context = self.smtp.tls_context()
        self.loop = DeliveryLoop(pool, settings, "email", self.send, capacity=settings.batch_size)

    async def send(self, row: asyncpg.Record) -> dict:
        s = self.settings
        ctx = _ctx(row)
        try:
            contact = await self.contacts.get(row["recipient"])
        except ContactUnavailable as exc:
            raise Retry(str(exc)) from exc
        if contact is None:
            raise Final("cancelled", "no contact (participant erased or unknown)")
        async with self.pool.acquire() as conn:
            if row["template"] in NON_ESSENTIAL and (
                not contact.marketing_consent or await store.is_unsubscribed(conn, row["recipient"])
            ):
                raise Final("skipped", "non-essential mail without marketing consent or after unsubscribe")
            activity = await store.activity(conn, ctx.get("activity_id"))
            counterpart = await store.organisation(conn, ctx.get("counterpart_id"))
            pending = [await store.organisation(conn, r) or "?" for r in ctx.get("requester_ids", [])]
        values = {
            **ctx, "name": contact.name, "organisation": contact.organisation,
            "counterpart": counterpart or "another participant",
            "activity": activity["title"] if activity else None,
            "timezone": activity["timezone"] if activity else None,
            "pending": ", ".join(pending) if pending else None,
        }
        link = unsubscribe_url(s, row["recipient"]) if row["template"] in NON_ESSENTIAL else None
        try:
            rendered = render(row["template"], contact.language, values, unsubscribe_url=link)
            ics = None
            if row["template"] in {"meeting_scheduled", "meeting_unscheduled"} and ctx.get("starts"):
                cancel = row["template"] == "meeting_unscheduled"
                where = "online" if ctx.get("online") else (
                    f"table {ctx['table']}" if ctx.get("table") is not None else None)
                ics = ("CANCEL" if cancel else "REQUEST", meeting_ics(
                    meeting_id=ctx["meeting_id"], sequence=int(ctx.get("sequence") or 0), starts_at=ctx["starts"],
                    ends_at=ctx["ends"], summary=f"ClusterXchange: {values['counterpart']}"
                    + (f" ({values['activity']})" if values["activity"] else ""), location=where, cancel=cancel,
                    organizer=s.mail_from, attendee=contact.email, attendee_name=contact.name,
                    timezone=values["timezone"],
                ))
            msg = mailer.build(
                delivery_id=str(row["id"]), sender=s.mail_from, to=contact.email, to_name=contact.name,
                subject=rendered.subject, text=rendered.text, html=rendered.html, language=rendered.language,
                ics=ics, unsubscribe_url=link,
            )
        except mailer.UnusableAddress as exc:
            raise Final("failed", str(exc)) from None
        except (ValueError, TypeError, KeyError) as exc:
            # The same data would fail the same way on every retry: fail this one mail now rather than
            # retrying it for a day. The exception's text may quote the data, so only its type is kept.
            log.error("email delivery %s: the message could not be built (%s)", row["id"], type(exc).__name__)
            raise Final("failed", f"message could not be built ({type(exc).__name__})") from None
        try:
            await mailer.send(msg, self.smtp, self.tls_context)
        except mailer.PermanentFailure as exc:
            raise Final("failed", f"refused: {exc}") from None
        except mailer.TransientFailure as exc:
            if exc.config:
                log.error("email delivery %s not sent, the SMTP relay setup needs attention: %s", row["id"], exc)
            raise Retry(str(exc)) from None
        return {
            # What was sent is kept as text PostgreSQL can store: a NUL that reached the mail must not make
            # the outcome unrecordable (the row would be sent again after every lease).
            "address": contact.email, "subject": str(msg["Subject"]), "body_text": rendered.text.replace("\x00", ""),
            "body_html": rendered.html.replace("\x00", ""), "message_id": msg["Message-ID"],
            "cluster_id": contact.cluster_id,
        }


class WebhookSender:
    """Posts to the subscriber's URL through a client that only connects to addresses the destination
    policy vetted (adapters/webhook_http.py). What is stored and shown about an attempt is a coarse
    outcome (2xx/4xx/5xx class, timeout, no connection): never the receiver's body or exact status, so a
    hook cannot be used to probe what answers where."""

    def __init__(self, pool: asyncpg.Pool, settings: NotificationsSettings) -> None:
        self.pool = pool
        self.settings = settings
        self.policy = webhook_http.policy_for(settings)
        self.http = webhook_http.client(self.policy, settings.webhook_timeout_s,
                                        max_connections=settings.webhook_concurrency)
        self.loop = DeliveryLoop(pool, settings, "webhook", self.send, capacity=settings.webhook_concurrency,
                                 per_recipient=settings.webhook_per_endpoint)

    async def send(self, row: asyncpg.Record) -> dict:
        async with self.pool.acquire() as conn:
            sub = await webhooks.signing_secrets(conn, row["recipient"])
        if sub is None:
            raise Final("cancelled", "webhook subscription removed")
        url, secrets = sub
        body = webhook_body(_ctx(row)["body"])
        headers = {**signing.headers(secrets, str(row["id"]), int(time.time()), body), "content-type": CONTENT_TYPE}
        try:
            self.policy.check_url(url)
            # wait_for on top of httpx's own timeouts: a receiver trickling bytes cannot hold us longer.
            status = await asyncio.wait_for(self._post(url, body, headers), self.settings.webhook_timeout_s)
        except DestinationRefused as exc:
            raise Final("failed", f"webhook destination not allowed: {exc}") from None
        except TimeoutError:
            raise Retry(f"webhook: no answer within {self.settings.webhook_timeout_s:g}s") from None
        except httpx.HTTPError as exc:
            log.info("webhook delivery %s: %s", row["id"], type(exc).__name__)
            raise Retry("webhook: could not connect or the connection failed") from None
        if 200 <= status < 300:
            return {"message_id": str(row["id"])}
        log.info("webhook delivery %s answered %d", row["id"], status)  # for ops; callers see the class only
        if status in (408, 429):
            raise Retry("webhook: the receiver asked to try later (408/429)")
        if status >= 500:
            raise Retry("webhook: the receiver failed (5xx)")
        raise Final("failed", "webhook: the receiver refused the delivery (4xx)" if 400 <= status < 500
                    else "webhook: the receiver answered neither success nor error")

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        # Streamed and closed unread: the receiver's body is never loaded, whatever its size.
        async with self.http.stream("POST", url, content=body, headers=headers) as r:
            return r.status_code

    async def close(self) -> None:
        await self.http.aclose()


async def email_worker(service) -> None:
    contacts = Contacts(service.settings.registration_url, service.settings.internal_token,
                        service.settings.contact_timeout_s)
    try:
        await EmailSender(service.pool, service.settings, contacts).loop.run()
    finally:
        await contacts.close()


async def webhook_worker(service) -> None:
    sender = WebhookSender(service.pool, service.settings)
    try:
        await sender.loop.run()
    finally:
        await sender.close()


async def digest_worker(service) -> None:
    """Plans the daily digest of unanswered meeting requests; the day is part of the key, so running
    this hourly on every replica still plans one digest per participant and day."""
    s = service.settings

    async def plan() -> None:
        async with service.pool.acquire() as conn, conn.transaction():
            await handlers.plan_digests(conn, min_age_s=s.digest_min_age_s, now=datetime.now(UTC))

    await run_periodically("requests-digest", plan, interval_s=s.digest_interval_s,
                           max_backoff_s=s.digest_interval_s)
