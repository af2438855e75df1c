"""Webhook subscriptions as the handlers see them, and who may touch which."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from shared.unit_of_work import Caller


class CapReached(Exception):
    """The owner has as many hooks as allowed."""


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key came before with another request."""


@dataclass(frozen=True)
class Webhook:
    id: uuid.UUID
    url: str
    event_types: tuple[str, ...]
    cluster_id: str | None  # None: a coordinator's hook, hearing about every cluster
    created_at: datetime
    secret_rotated_at: datetime | None = None
    previous_secret_until: datetime | None = None
    # The signing key, kept out of repr so it cannot reach a log line by accident; views never show it.
    secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class Created:
    webhook: Webhook
    new: bool  # False: an earlier create of the same hook (or the same Idempotency-Key) is answered again
    secret: str | None  # returned once: the generated secret, or again to the create's own retry


def scope_of(caller: Caller) -> str | None:
    """What a caller may touch: a partner its own cluster's hooks and deliveries, the programme everything.
    Outside the scope a hook does not exist (404)."""
    return caller.cluster_id if caller.role == "partner" else None


def fingerprint(url: str, event_types: list[str], secret: str | None) -> str:
    """What makes two creates the same request (an Idempotency-Key reused with another one is refused); the
    secret only as its digest."""
    return hashlib.sha256(json.dumps(
        [url, event_types, hashlib.sha256(secret.encode()).hexdigest() if secret else None]
    ).encode()).hexdigest()
