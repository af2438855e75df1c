"""The notifications repository of the handler contract (the command side: webhook subscriptions,
unsubscribing, reading deliveries): the SQL of adapters/ bound to one transaction's connection, answering
with domain values."""

from __future__ import annotations

import uuid

import asyncpg

from services.notifications.adapters import store, webhooks
from services.notifications.domain.subscriptions import Created, Webhook


def webhook_of(row: asyncpg.Record) -> Webhook:
    return Webhook(
        id=row["id"], url=row["url"], event_types=tuple(row["event_types"]), cluster_id=row["cluster_id"],
        created_at=row["created_at"], secret_rotated_at=row["secret_rotated_at"],
        previous_secret_until=row["previous_secret_until"], secret=row["secret"],
    )


class Repository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def create_webhook(self, **fields) -> Created:
        """See adapters/webhooks.create (raises CapReached, IdempotencyKeyReused)."""
        created = await webhooks.create(self.conn, **fields)
        return Created(webhook_of(created.row), new=created.new, secret=created.secret)

    async def webhooks(self, scope: str | None) -> list[Webhook]:
        return [webhook_of(r) for r in await webhooks.list_for(self.conn, scope)]

    async def webhook(self, subscription_id: uuid.UUID, scope: str | None) -> Webhook | None:
        row = await webhooks.get(self.conn, subscription_id, scope)
        return webhook_of(row) if row is not None else None

    async def delete_webhook(self, subscription_id: uuid.UUID, scope: str | None) -> bool:
        return await webhooks.delete(self.conn, subscription_id, scope)

    async def rotate_webhook(self, subscription_id: uuid.UUID, scope: str | None, secret: str,
                             overlap_s: float) -> Webhook | None:
        row = await webhooks.rotate(self.conn, subscription_id, scope, secret, overlap_s)
        return webhook_of(row) if row is not None else None

    async def unsubscribe(self, participant_id: str) -> None:
        await store.unsubscribe(self.conn, participant_id)

    async def deliveries(self, *, recipient: str | None, event_id: uuid.UUID | None,
                         cluster_id: str | None) -> list[dict]:
        rows = await store.list_deliveries(self.conn, recipient=recipient, event_id=event_id, cluster_id=cluster_id)
        return [dict(r) for r in rows]
