"""An in-memory notifications repository (the interface of services/notifications/adapters/repository.py), for
unit tests of the command handlers with ``tests.support.fakes.FakeUnitOfWork``. It keeps the rules the SQL
keeps: the cap per owner, one hook per (owner, scope, URL, event types), Idempotency-Keys per API key."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from services.notifications.domain.subscriptions import CapReached, Created, IdempotencyKeyReused, Webhook


class FakeRepository:
    def __init__(self) -> None:
        self.hooks: dict[uuid.UUID, dict] = {}  # id → {"webhook": Webhook, "owner": cluster id}
        self.idempotency: dict[tuple[str, str], dict] = {}
        self.unsubscribed: set[str] = set()
        self.cancelled: list[str] = []  # hooks whose planned deliveries were cancelled
        self.delivery_rows: list[dict] = []

    async def create_webhook(self, *, cluster_id, owner_cluster_id, url, event_types, secret, generated, created_by,
                             cap, idempotency_key, fingerprint) -> Created:
        if idempotency_key is not None and (seen := self.idempotency.get((created_by, idempotency_key))):
            if seen["fingerprint"] != fingerprint:
                raise IdempotencyKeyReused
            hook = self.hooks[seen["id"]]["webhook"]
            again = hook.secret if seen["secret_sha256"] == hashlib.sha256(hook.secret.encode()).digest() else None
            return Created(hook, new=False, secret=again)
        same = next((h["webhook"] for h in self.hooks.values()
                     if h["owner"] == owner_cluster_id and h["webhook"].cluster_id == cluster_id
                     and h["webhook"].url == url and list(h["webhook"].event_types) == list(event_types)), None)
        if same is not None:
            created = Created(same, new=False, secret=None)
        else:
            if sum(1 for h in self.hooks.values() if h["owner"] == owner_cluster_id) >= cap:
                raise CapReached
            hook = Webhook(id=uuid.uuid4(), url=url, event_types=tuple(event_types), cluster_id=cluster_id,
                           created_at=datetime.now(UTC), secret=secret)
            self.hooks[hook.id] = {"webhook": hook, "owner": owner_cluster_id}
            created = Created(hook, new=True, secret=secret if generated else None)
        if idempotency_key is not None:
            self.idempotency[(created_by, idempotency_key)] = {
                "fingerprint": fingerprint, "id": created.webhook.id,
                "secret_sha256": hashlib.sha256(created.secret.encode()).digest() if created.secret else None,
            }
        return created

    def _scoped(self, subscription_id: uuid.UUID, scope: str | None) -> Webhook | None:
        found = self.hooks.get(subscription_id)
        if found is None or (scope is not None and found["webhook"].cluster_id != scope):
            return None
        return found["webhook"]

    async def webhooks(self, scope: str | None) -> list[Webhook]:
        return [h["webhook"] for h in self.hooks.values() if scope is None or h["webhook"].cluster_id == scope]

    async def webhook(self, subscription_id: uuid.UUID, scope: str | None) -> Webhook | None:
        return self._scoped(subscription_id, scope)

    async def delete_webhook(self, subscription_id: uuid.UUID, scope: str | None) -> bool:
        if self._scoped(subscription_id, scope) is None:
            return False
        del self.hooks[subscription_id]
        self.cancelled.append(str(subscription_id))
        return True

    async def rotate_webhook(self, subscription_id, scope, secret, overlap_s) -> Webhook | None:
        hook = self._scoped(subscription_id, scope)
        if hook is None:
            return None
        now = datetime.now(UTC)
        rotated = dataclasses.replace(hook, secret=secret, secret_rotated_at=now,
                                      previous_secret_until=now + timedelta(seconds=overlap_s))
        self.hooks[subscription_id]["webhook"] = rotated
        return rotated

    async def unsubscribe(self, participant_id: str) -> None:
        self.unsubscribed.add(participant_id)

    async def deliveries(self, *, recipient, event_id, cluster_id) -> list[dict]:
        return [d for d in self.delivery_rows
                if (recipient is None or d["recipient"] == recipient) and (event_id is None or d["event_id"] == event_id)
                and (cluster_id is None or d["cluster_id"] == cluster_id)]
