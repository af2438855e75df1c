"""Notifications' reactions to events, and its commands (webhook subscriptions, unsubscribing).

Commands follow the handler contract (shared/unit_of_work.py): the unit of work and the command in, domain
errors (shared/errors.py) out, domain values back; the routes open the unit of work and shape the views.
Who may touch a hook or read a delivery is ``subscriptions.scope_of``, for reads and writes alike.

An event handler runs inside the consumer's idempotent transaction and only plans: it writes delivery
rows (unique per event, recipient and channel) and keeps the few facts a mail needs. Sending happens in
the sender workers, after the commit, so a redelivered event finds its rows already there and plans
nothing new.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from services.notifications.adapters import inbox, store
from services.notifications.adapters.repository import Repository
from services.notifications.domain import signing, unsubscribe as links
from services.notifications.domain.destinations import DestinationRefused
from services.notifications.domain.subscriptions import (
    CapReached,
    Created,
    IdempotencyKeyReused,
    Webhook,
    fingerprint,
    scope_of,
)
from services.notifications.domain.planning import digest_key, email_plans, reminder_plans
from shared import privacy
from shared.events.envelope import Envelope
from shared.errors import Conflict, NotFound, RuleBroken
from shared.events.topics import TOPICS
from shared.unit_of_work import Caller, UnitOfWork

CONSUMED_TOPICS = ["cxc.participants", "cxc.activities", "cxc.exchanges", "cxc.meetings"]
WEBHOOK_EVENT_TYPES = frozenset(t for name in CONSUMED_TOPICS for t in TOPICS[name].event_types)


async def _event_clusters(conn: asyncpg.Connection, envelope: Envelope) -> set[str]:
    """The clusters whose partners may hear about an event (by its webhooks)."""
    e = envelope.payload()
    clusters: set[str] = set()
    if profile := getattr(e, "profile", None):
        clusters.add(profile.cluster_id)
    for attr in ("cluster_id", "sending_cluster_id", "host_cluster_id"):
        if value := getattr(e, attr, None):
            clusters.add(value)
    people = [p for p in (getattr(e, a, None) for a in ("participant_id", "requester_id", "target_id")) if p]
    clusters |= set((await store.clusters_of(conn, people)).values())
    if (activity_id := getattr(e, "activity_id", None)) and (a := await store.activity(conn, activity_id)):
        if a["host_cluster_id"]:
            clusters.add(a["host_cluster_id"])
    return clusters


async def _plan_webhooks(conn: asyncpg.Connection, envelope: Envelope) -> None:
    clusters = await _event_clusters(conn, envelope)
    for sub in await store.matching_subscriptions(conn, envelope.type, clusters):
        await store.plan(
            conn, event_id=envelope.id, event_type=envelope.type, recipient=str(sub["id"]), channel="webhook",
            template="webhook", context={"body": envelope.to_json().decode()},
            cluster_id=sub["cluster_id"],  # NULL for a coordinator's hook: no partner sees those deliveries
            correlation_id=envelope.correlation_id,
        )


async def _plan_emails(conn: asyncpg.Connection, envelope: Envelope, meeting: dict | None = None) -> None:
    e = envelope.payload()
    for p in email_plans(envelope.type, e, meeting):
        cluster = (await store.clusters_of(conn, [p.recipient])).get(p.recipient)
        await store.plan(
            conn, event_id=envelope.id, event_type=envelope.type, recipient=p.recipient, channel="email",
            template=p.template, context=p.context, cluster_id=cluster, meeting_id=p.meeting_id,
            correlation_id=envelope.correlation_id,
        )


async def _organisation(keys: privacy.KeyRing, e) -> str | None:
    """The organisation name from the sealed profile (None once its key is destroyed)."""
    personal = await privacy.unseal(keys, e.personal, privacy.PROFILE)
    return personal.get("name") if personal else None


async def participant_registered(conn: asyncpg.Connection, envelope: Envelope, keys: privacy.KeyRing) -> None:
    e = envelope.payload()
    if await privacy.erased(conn, [e.participant_id]):
        return  # late or replayed after the erasure: no name, no mail, no webhook comes back
    await inbox.add(conn, envelope)
    await store.upsert_participant(conn, e.participant_id, e.profile.cluster_id, await _organisation(keys, e))
    await _plan_emails(conn, envelope)
    await _plan_webhooks(conn, envelope)


async def participant_updated(conn: asyncpg.Connection, envelope: Envelope, keys: privacy.KeyRing) -> None:
    e = envelope.payload()
    if await privacy.erased(conn, [e.participant_id]):
        return
    await store.upsert_participant(conn, e.participant_id, e.profile.cluster_id, await _organisation(keys, e))
    await _plan_webhooks(conn, envelope)


async def participant_erased(conn: asyncpg.Connection, envelope: Envelope) -> None:
    e = envelope.payload()
    await inbox.forget_subject(conn, envelope.subject)
    await store.erase(conn, e.participant_id)  # also its tombstone (erased_participants)
    await store.forget_requests_of(conn, e.participant_id)
    await _plan_webhooks(conn, envelope)


async def activity_changed(conn: asyncpg.Connection, envelope: Envelope) -> None:
    e = envelope.payload()
    timezone = e.meetings.timezone if e.meetings else None
    await store.upsert_activity(conn, e.activity_id, getattr(e, "host_cluster_id", None), e.title, timezone)
    await _plan_webhooks(conn, envelope)


async def notify(conn: asyncpg.Connection, envelope: Envelope) -> None:
    await _plan_emails(conn, envelope)
    await _plan_webhooks(conn, envelope)


async def meeting_requested(conn: asyncpg.Connection, envelope: Envelope) -> None:
    e = envelope.payload()
    if not await privacy.erased(conn, [e.requester_id, e.target_id]):
        await store.add_request(conn, e, envelope.time)
    await notify(conn, envelope)  # plans nothing for an erased recipient (store.plan checks)


async def meeting_answered(conn: asyncpg.Connection, envelope: Envelope) -> None:
    await store.answer_request(conn, envelope.payload().meeting_id)
    await notify(conn, envelope)


async def plan_digests(conn: asyncpg.Connection, *, min_age_s: float, now: datetime) -> int:
    """Plan today's digest of unanswered requests for every participant who has some."""
    planned = 0
    for row in await store.waiting_requests(conn, min_age_s):
        target, requesters = row["target_id"], list(row["requesters"])
        cluster = (await store.clusters_of(conn, [target])).get(target)
        planned += await store.plan(
            conn, event_id=digest_key(target, now.date().isoformat()), event_type="meeting.requests_digest",
            recipient=target, channel="email", template="requests_digest", cluster_id=cluster,
            context={"count": len(requesters), "requester_ids": requesters},
        )
    return planned


async def meeting_scheduled(conn: asyncpg.Connection, envelope: Envelope) -> None:
    e = envelope.payload()
    await store.set_meeting_slot(conn, e)
    await _plan_emails(conn, envelope)
    reminders = reminder_plans(e, datetime.now(UTC))
    await store.cancel_reminders(conn, e.meeting_id, [r.key for r in reminders], "meeting moved")
    clusters = await store.clusters_of(conn, [e.requester_id, e.target_id])
    for r in reminders:
        await store.plan(
            conn, event_id=r.key, event_type="meeting.reminder", recipient=r.recipient, channel="email",
            template="meeting_reminder", context=r.context, cluster_id=clusters.get(r.recipient),
            meeting_id=r.meeting_id, due_at=r.due_at, correlation_id=envelope.correlation_id,
        )
    await _plan_webhooks(conn, envelope)


async def meeting_unscheduled(conn: asyncpg.Connection, envelope: Envelope) -> None:
    e = envelope.payload()
    known = await store.meeting(conn, e.meeting_id)
    slot = dict(known) if known else None
    await _plan_emails(conn, envelope, slot)
    await store.cancel_reminders(conn, e.meeting_id, [], "meeting unscheduled")
    await store.clear_meeting_slot(conn, e.meeting_id, e.schedule_version)
    await _plan_webhooks(conn, envelope)


HANDLERS = {
    "participant.erased": participant_erased,
    "activity.created": activity_changed,
    "activity.updated": activity_changed,
    "meeting.requested": meeting_requested,
    "meeting.accepted": meeting_answered,
    "meeting.declined": meeting_answered,
    "meeting.expired": meeting_answered,
    "meeting.scheduled": meeting_scheduled,
    "meeting.unscheduled": meeting_unscheduled,
}
HANDLERS |= {t: notify for t in WEBHOOK_EVENT_TYPES if t not in HANDLERS}


def inbox_handlers(keys: privacy.KeyRing) -> dict:
    """Every handler, the participant.* ones opening sealed profiles with ``keys`` (registration's lookup)."""

    async def registered(conn: asyncpg.Connection, envelope: Envelope) -> None:
        await participant_registered(conn, envelope, keys)

    async def updated(conn: asyncpg.Connection, envelope: Envelope) -> None:
        await participant_updated(conn, envelope, keys)

    async def erased(conn: asyncpg.Connection, envelope: Envelope) -> None:
        await participant_erased(conn, envelope)
        keys.forget(envelope.payload().participant_id)

    return {**HANDLERS, "participant.registered": registered, "participant.updated": updated,
            "participant.erased": erased}


# --- commands and reads (the handler contract) ---------------------------------------------------

Work = UnitOfWork[Repository]

# A signed unsubscribe link acts for nobody's cluster: the link's HMAC is its whole authority.
SIGNED_LINK = Caller(cluster_id="", role="partner", key_id="unsubscribe-link")


@dataclass(frozen=True)
class CreateWebhook:
    url: str
    event_types: list[str]
    secret: str | None = None  # generated (and returned once) when None
    idempotency_key: str | None = None


async def vet_destination(vet: Callable[[str], Awaitable[None]], url: str) -> None:
    """Refuse a hook URL the destination policy forbids (``vet`` resolves and checks it, raising
    DestinationRefused). Run before the unit of work opens: it may wait on DNS, and holds no transaction."""
    try:
        await vet(url)
    except DestinationRefused as exc:
        raise RuleBroken(None, f"The webhook URL is not allowed: {exc}", kind="webhook-destination-refused",
                         title=None, errors=[{"field": "url", "message": str(exc), "type": "destination"}]) from None


async def create_webhook(uow: Work, cmd: CreateWebhook, *, cap: int) -> Created:
    """Subscribe a URL; safe to retry (the same Idempotency-Key answers the first result again, and the same
    hook without one is answered as it is, without its secret)."""
    generated = cmd.secret is None
    secret = signing.new_secret() if generated else cmd.secret
    try:
        created = await uow.repo.create_webhook(
            cluster_id=scope_of(uow.caller), owner_cluster_id=uow.caller.cluster_id, url=cmd.url,
            event_types=cmd.event_types, secret=secret, generated=generated, created_by=uow.caller.key_id,
            cap=cap, idempotency_key=cmd.idempotency_key,
            fingerprint=fingerprint(cmd.url, cmd.event_types, cmd.secret),
        )
    except CapReached:
        raise Conflict(f"This cluster has {cap} webhooks, the most allowed; delete one first",
                       kind="webhook-limit-reached") from None
    except IdempotencyKeyReused:
        raise RuleBroken(None, "This Idempotency-Key was used with a different request",
                         kind="idempotency-key-reused", title=None) from None
    if not created.new and cmd.secret is not None and created.webhook.secret != cmd.secret:
        raise Conflict(f"Webhook {created.webhook.id} already sends these events to this URL with another "
                       "secret; rotate its secret instead", kind="conflict")
    return created


async def webhooks_of(uow: Work) -> list[Webhook]:
    return await uow.repo.webhooks(scope_of(uow.caller))


async def webhook(uow: Work, subscription_id: uuid.UUID) -> Webhook:
    found = await uow.repo.webhook(subscription_id, scope_of(uow.caller))
    if found is None:
        raise NotFound.of("webhook", subscription_id)
    return found


async def delete_webhook(uow: Work, subscription_id: uuid.UUID) -> None:
    """Stops the hook at once: deliveries still planned for it are cancelled."""
    if not await uow.repo.delete_webhook(subscription_id, scope_of(uow.caller)):
        raise NotFound.of("webhook", subscription_id)


async def rotate_secret(uow: Work, subscription_id: uuid.UUID, secret: str | None, *,
                        overlap_s: float) -> tuple[Webhook, str | None]:
    """The new secret (generated when None) signs from now on, the previous one for ``overlap_s`` more;
    returns the hook and the secret to show once (only a generated one)."""
    generated = secret is None
    secret = signing.new_secret() if generated else secret
    rotated = await uow.repo.rotate_webhook(subscription_id, scope_of(uow.caller), secret, overlap_s)
    if rotated is None:
        raise NotFound.of("webhook", subscription_id)
    return rotated, secret if generated else None


def check_unsubscribe_link(signing_secret: str, participant_id: str, token: str) -> None:
    if not links.valid(signing_secret, participant_id, token):
        raise NotFound("Unknown or invalid unsubscribe link")


async def unsubscribe(uow: Work, participant_id: str, token: str, *, signing_secret: str) -> None:
    """Non-essential mail stops for the participant the signed link names (agenda and decisions still come)."""
    check_unsubscribe_link(signing_secret, participant_id, token)
    await uow.repo.unsubscribe(participant_id)


async def deliveries(uow: Work, *, recipient: str | None, event_id: uuid.UUID | None) -> list[dict]:
    return await uow.repo.deliveries(recipient=recipient, event_id=event_id, cluster_id=scope_of(uow.caller))
