"""Payload factories: the bodies partners post and the events the services publish, one definition each.

Tests say only what matters to them (``participant_body(name=..., contact={"language": "de"})``); nested
``contact`` and ``consent`` overrides are merged into the defaults, so a test changing the language keeps a
valid e-mail address.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

from shared.events.catalogue import NotificationSent, ParticipantRegistered, Profile

# A complete, valid registration body (POST /v1/participants).
PARTICIPANT: dict[str, Any] = {
    "kind": "sme", "name": "Score Digital", "country": "PL", "city": "Warsaw", "sectors": ["J62.01"],
    "keywords": ["smart mobility"], "offers": [{"type": "technology", "text": "V2X platform"}], "requests": [],
    "contact": {"name": "Daniel Hekman", "email": "daniel@score.example"},
    "consent": {"data_processing": True, "marketing": False},
}
_MERGED = ("contact", "consent")


def participant_body(**overrides: Any) -> dict[str, Any]:
    """A fresh copy of ``PARTICIPANT`` with ``overrides``; ``contact``/``consent`` overrides are merged, a
    value of ``None`` for another field removes it."""
    body = copy.deepcopy(PARTICIPANT)
    for name, value in overrides.items():
        if name in _MERGED and isinstance(value, dict):
            body[name] = {**body[name], **value}
        elif value is None and name not in _MERGED:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def person(name: str, email: str, *, organisation: str, language: str | None = None,
           marketing: bool = False, **overrides: Any) -> dict[str, Any]:
    """A registration body for a named contact person of ``organisation`` (the notification tests address
    people by name, language and marketing consent)."""
    contact = {"name": name, "email": email, **({"language": language} if language else {})}
    return participant_body(name=organisation, contact=contact, consent={"marketing": marketing}, **overrides)


def participant_registered(pid: str, cluster: str = "pole-scs", country: str = "PL") -> ParticipantRegistered:
    """The participant.registered event of ``pid`` as registration publishes it."""
    return ParticipantRegistered(
        participant_id=pid,
        profile=Profile(cluster_id=cluster, kind="sme", name=f"Company {pid}", country=country),
        registered_at=datetime.now(UTC),
    )


def notification_sent(consumed) -> NotificationSent:
    """The notification.sent a welcome mail for the consumed envelope's subject records, naming the event
    that caused it (what a stand-in for the notifications service publishes)."""
    return NotificationSent(
        notification_id=str(uuid.uuid4()), trigger_event_id=consumed.id, channel="email",
        template="welcome", recipient_ref=consumed.subject, attempts=1,
    )
