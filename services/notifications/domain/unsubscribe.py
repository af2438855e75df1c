"""Unsubscribe links: the participant id with an HMAC, so a link cannot be forged for someone else."""

from __future__ import annotations

import hashlib
import hmac


def token(secret: str, participant_id: str) -> str:
    return hmac.new(secret.encode(), f"unsubscribe:{participant_id}".encode(), hashlib.sha256).hexdigest()[:32]


def valid(secret: str, participant_id: str, candidate: str) -> bool:
    # As bytes: compare_digest raises on non-ASCII str, and the candidate comes from a query string.
    return hmac.compare_digest(token(secret, participant_id).encode(), candidate.encode("utf-8", "surrogateescape"))


def unsubscribe_url(settings, participant_id: str) -> str:
    return f"{settings.public_url.rstrip('/')}/v1/unsubscribe/{participant_id}?token={token(settings.signing_secret.get_secret_value(), participant_id)}"
