"""SQL of the notifications service: planned deliveries, their claims and outcomes, local projections."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import asyncpg

DELIVERY_COLUMNS = """id, event_id, event_type, correlation_id, recipient, channel, template, cluster_id, meeting_id, context,
    status, attempts, first_attempt_at, due_at, attempt_id, last_error, created_at, sent_at, message_id"""


# --- planning (inside the consumer's transaction) ---------------------------------------------------


async def plan(
    conn: asyncpg.Connection, *, event_id: str | uuid.UUID, event_type: str, recipient: str, channel: str,
    template: str, context: dict, cluster_id: str | None = None, meeting_id: str | None = None,
    due_at: datetime | None = None, correlation_id: str | None = None,
) -> bool:
    """Insert a planned delivery; False if this (event, recipient, channel) was planned before."""
    return bool(await conn.fetchval(
        """INSERT INTO deliveries (id, event_id, event_type, recipient, channel, template, cluster_id, meeting_id,
                                   context, due_at, correlation_id)
           SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, coalesce($10, now()), $11
           WHERE NOT EXISTS (SELECT 1 FROM erased_participants WHERE participant_id = $4)
           ON CONFLICT (event_id, recipient, channel) DO NOTHING RETURNING true""",
        uuid.uuid4(), str(event_id), event_type, recipient, channel, template, cluster_id, meeting_id,
        json.dumps(context), due_at, correlation_id,
    ))


async def cancel_reminders(conn: asyncpg.Connection, meeting_id: str, keep: list[uuid.UUID], reason: str) -> int:
    status = await conn.execute(
        """UPDATE deliveries SET status = 'cancelled', last_error = $3
           WHERE meeting_id = $1 AND template = 'meeting_reminder' AND status = 'planned'
             AND NOT (event_id = ANY($2::uuid[]))""",
        meeting_id, keep, reason,
    )
    return int(status.split()[-1])


# --- projections ----------------------------------------------------------------------------------


async def upsert_participant(conn, participant_id: str, cluster_id: str, organisation: str | None) -> None:
    await conn.execute(
        """INSERT INTO participants (participant_id, cluster_id, organisation) VALUES ($1, $2, $3)
           ON CONFLICT (participant_id) DO UPDATE SET cluster_id = $2, organisation = $3""",
        participant_id, cluster_id, organisation,
    )


async def upsert_activity(conn, activity_id: str, host_cluster_id: str | None, title: str, timezone: str | None):
    await conn.execute(
        """INSERT INTO activities (activity_id, host_cluster_id, title, timezone) VALUES ($1, coalesce($2, ''), $3, $4)
           ON CONFLICT (activity_id) DO UPDATE
           SET host_cluster_id = coalesce($2, activities.host_cluster_id), title = $3, timezone = $4""",
        activity_id, host_cluster_id, title, timezone,
    )


async def meeting(conn, meeting_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM meetings WHERE meeting_id = $1", meeting_id)


async def set_meeting_slot(conn, e) -> None:
    await conn.execute(
        """INSERT INTO meetings (meeting_id, activity_id, schedule_version, starts_at, ends_at, table_no, online)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (meeting_id) DO UPDATE SET schedule_version = $3, starts_at = $4, ends_at = $5,
               table_no = $6, online = $7""",
        e.meeting_id, e.activity_id, e.schedule_version, e.starts_at, e.ends_at, e.table, e.online,
    )


async def clear_meeting_slot(conn, meeting_id: str, schedule_version: int) -> None:
    await conn.execute(
        """UPDATE meetings SET schedule_version = $2, starts_at = NULL, ends_at = NULL, table_no = NULL
           WHERE meeting_id = $1""",
        meeting_id, schedule_version,
    )


async def clusters_of(conn, participant_ids: list[str]) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT participant_id, cluster_id FROM participants WHERE participant_id = ANY($1::text[])", participant_ids
    )
    return {r["participant_id"]: r["cluster_id"] for r in rows}


async def activity(conn, activity_id: str | None) -> asyncpg.Record | None:
    if not activity_id:
        return None
    return await conn.fetchrow("SELECT * FROM activities WHERE activity_id = $1", activity_id)


async def organisation(conn, participant_id: str | None) -> str | None:
    if not participant_id:
        return None
    return await conn.fetchval("SELECT organisation FROM participants WHERE participant_id = $1", participant_id)


# --- erasure --------------------------------------------------------------------------------------


async def erase(conn: asyncpg.Connection, participant_id: str) -> None:
    await conn.execute(
        "INSERT INTO erased_participants (participant_id) VALUES ($1) ON CONFLICT DO NOTHING", participant_id
    )
    # Their mails go entirely (address, rendered text, errors that may quote the address); the tombstone
    # above keeps a replayed event from planning them again. A send under way finds its row gone and
    # records nothing (mark_sent matches no row).
    await conn.execute("DELETE FROM deliveries WHERE recipient = $1 AND channel = 'email'", participant_id)
    # Mails to others that named them (a meeting request, an agenda, a digest): the rendered text goes;
    # the row stays as the other recipient's record and keeps only ids.
    await conn.execute(
        """UPDATE deliveries SET subject = NULL, body_text = NULL, body_html = NULL, last_error = NULL
           WHERE channel = 'email' AND (context->>'counterpart_id' = $1 OR context->'requester_ids' ? $1)""",
        participant_id,
    )
    await conn.execute("UPDATE participants SET organisation = NULL WHERE participant_id = $1", participant_id)
    await conn.execute("DELETE FROM unsubscribed WHERE participant_id = $1", participant_id)


# --- claiming and outcomes (the senders) -----------------------------------------------------------


async def claim(
    conn: asyncpg.Connection, channel: str, limit: int, lease_s: float, *, per_recipient: int = 1_000_000,
    busy: list[str] | tuple[str, ...] = (),
) -> list[asyncpg.Record]:
    """Take up to ``limit`` due deliveries for this sender. SKIP LOCKED lets replicas claim side by side
    without ever taking the same row; the committed 'sending' status with a fresh attempt id and a lease
    keeps it theirs after this statement, and an expired lease (the sender died) makes it due again.
    At most ``per_recipient`` rows of one recipient are taken, none of the ``busy`` ones: one slow
    webhook endpoint cannot fill every slot."""
    due = "((d.status = 'planned' AND d.due_at <= now()) OR (d.status = 'sending' AND d.lease_until < now()))"
    return await conn.fetch(
        f"""WITH ranked AS (
                SELECT d.id, row_number() OVER (PARTITION BY d.recipient ORDER BY d.due_at) AS n
                FROM deliveries d
                WHERE d.channel = $1 AND {due} AND NOT (d.recipient = ANY($5::text[]))),
            due AS (
                SELECT d.id FROM deliveries d JOIN ranked r ON r.id = d.id
                WHERE r.n <= $4 AND {due}
                ORDER BY d.due_at
                LIMIT $2
                FOR UPDATE OF d SKIP LOCKED)
            UPDATE deliveries d SET status = 'sending', attempt_id = gen_random_uuid(), attempts = d.attempts + 1,
                   first_attempt_at = coalesce(d.first_attempt_at, now()),
                   lease_until = now() + make_interval(secs => $3)
            FROM due WHERE d.id = due.id
            RETURNING {', '.join('d.' + c.strip() for c in DELIVERY_COLUMNS.split(','))}""",
        channel, limit, lease_s, per_recipient, list(busy),
    )


async def mark_sent(
    conn: asyncpg.Connection, row, *, address: str | None = None, subject: str | None = None,
    body_text: str | None = None, body_html: str | None = None, message_id: str | None = None,
    cluster_id: str | None = None,
) -> bool:
    """Only the holder of the current attempt may record the outcome."""
    return bool(await conn.fetchval(
        """UPDATE deliveries d SET status = 'sent', sent_at = now(), lease_until = NULL, last_error = NULL,
               address = CASE WHEN e.participant_id IS NULL THEN $3 END,
               subject = CASE WHEN e.participant_id IS NULL THEN $4 END,
               body_text = CASE WHEN e.participant_id IS NULL THEN $5 END,
               body_html = CASE WHEN e.participant_id IS NULL THEN $6 END,
               message_id = $7, cluster_id = coalesce($8, d.cluster_id)
           FROM (SELECT $1::uuid AS id) k LEFT JOIN erased_participants e ON e.participant_id = $9
           WHERE d.id = k.id AND d.attempt_id = $2 AND d.status = 'sending' RETURNING true""",
        row["id"], row["attempt_id"], address, subject, body_text, body_html, message_id, cluster_id, row["recipient"],
    ))


async def mark_retry(conn, row, due_at: datetime, error: str) -> bool:
    return bool(await conn.fetchval(
        """UPDATE deliveries SET status = 'planned', due_at = $3, last_error = $4, lease_until = NULL
           WHERE id = $1 AND attempt_id = $2 AND status = 'sending' RETURNING true""",
        row["id"], row["attempt_id"], due_at, error[:2000],
    ))


async def mark_final(conn, row, status: str, error: str) -> bool:
    """failed (gave up), cancelled (nobody to send to) or skipped (recipient does not want it)."""
    return bool(await conn.fetchval(
        """UPDATE deliveries SET status = $3, last_error = $4, lease_until = NULL
           WHERE id = $1 AND attempt_id = $2 AND status = 'sending' RETURNING true""",
        row["id"], row["attempt_id"], status, error[:2000],
    ))


async def is_unsubscribed(conn, participant_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM unsubscribed WHERE participant_id = $1", participant_id))


async def unsubscribe(conn, participant_id: str) -> None:
    await conn.execute("INSERT INTO unsubscribed (participant_id) VALUES ($1) ON CONFLICT DO NOTHING", participant_id)


# --- reading --------------------------------------------------------------------------------------


async def list_deliveries(conn, *, recipient: str | None, event_id: uuid.UUID | None, cluster_id: str | None,
                          limit: int = 500) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {DELIVERY_COLUMNS} FROM deliveries
            WHERE ($1::text IS NULL OR recipient = $1) AND ($2::uuid IS NULL OR event_id = $2)
              AND ($3::text IS NULL OR cluster_id = $3)
            ORDER BY created_at, id LIMIT $4""",
        recipient, event_id, cluster_id, limit,
    )


# --- webhook subscriptions -------------------------------------------------------------------------


async def add_subscription(conn, *, cluster_id: str | None, owner_cluster_id: str, url: str, event_types: list[str],
                           secret: str, created_by: str) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO webhook_subscriptions (id, cluster_id, owner_cluster_id, url, event_types, secret, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *""",
        uuid.uuid4(), cluster_id, owner_cluster_id, url, event_types, secret, created_by,
    )


async def matching_subscriptions(conn, event_type: str, clusters: set[str]) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, cluster_id FROM webhook_subscriptions
           WHERE $1 = ANY(event_types) AND (cluster_id IS NULL OR cluster_id = ANY($2::text[]))""",
        event_type, sorted(clusters),
    )


async def subscription(conn, subscription_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM webhook_subscriptions WHERE id = $1::uuid", subscription_id)


# --- unanswered meeting requests (the digest) ------------------------------------------------------


async def add_request(conn, e, requested_at: datetime) -> None:
    await conn.execute(
        """INSERT INTO meeting_requests (meeting_id, activity_id, requester_id, target_id, requested_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (meeting_id) DO NOTHING""",
        e.meeting_id, e.activity_id, e.requester_id, e.target_id, requested_at, e.expires_at,
    )


async def answer_request(conn, meeting_id: str) -> None:
    await conn.execute("UPDATE meeting_requests SET answered = true WHERE meeting_id = $1", meeting_id)


async def forget_requests_of(conn, participant_id: str) -> None:
    await conn.execute(
        "DELETE FROM meeting_requests WHERE requester_id = $1 OR target_id = $1", participant_id
    )


async def waiting_requests(conn, min_age_s: float) -> list[asyncpg.Record]:
    """Per target: the requests older than ``min_age_s`` that are neither answered nor expired."""
    return await conn.fetch(
        """SELECT target_id, array_agg(requester_id ORDER BY requested_at) AS requesters
           FROM meeting_requests
           WHERE NOT answered AND expires_at > now() AND requested_at <= now() - make_interval(secs => $1)
           GROUP BY target_id ORDER BY target_id""",
        min_age_s,
    )
