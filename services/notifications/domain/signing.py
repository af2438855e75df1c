"""Webhook signatures, following the Standard Webhooks convention (standardwebhooks.com).

Every delivery carries three headers:

- ``webhook-id``: the delivery id; the same on every retry of one delivery, so receivers can deduplicate.
- ``webhook-timestamp``: integer Unix seconds of this attempt; receivers should reject old ones (replays).
- ``webhook-signature``: ``v1,`` + base64(HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}.{body}")),
  where body is the exact raw request body (UTF-8 JSON of the CloudEvent).

The body is the event in the CloudEvents HTTP binding's structured content mode: the sender adds
``content-type: application/cloudevents+json; charset=utf-8``; signing does not depend on it.

The key: a secret of the form ``whsec_<base64>`` (what this service generates when the subscriber sends
none) is used as the base64-decoded bytes after the prefix, exactly as the Standard Webhooks libraries do;
any other secret a subscriber chose is used as its UTF-8 bytes. A ``whsec_`` secret a subscriber brings must
be valid base64 of 24 to 64 bytes (``check_secret``), as the Standard Webhooks libraries require.

While a rotated secret's predecessor is still honoured, ``webhook-signature`` carries one signature per
secret, space-separated, so receivers can switch keys without dropping a delivery.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence

PREFIX = "whsec_"
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64
MIN_PLAIN_CHARS = 16
DEFAULT_TOLERANCE_S = 300  # Standard Webhooks: reject timestamps more than 5 minutes off


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def check_secret(secret: str) -> None:
    """Raise ValueError when a subscriber's secret cannot sign: a ``whsec_`` value that is not strict
    base64 of 24..64 bytes, or another value shorter than 16 characters."""
    if secret.startswith(PREFIX):
        try:
            key = base64.b64decode(secret[len(PREFIX):], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a whsec_ secret must be whsec_ followed by base64") from None
        if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
            raise ValueError(f"a whsec_ secret must decode to {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes")
    elif len(secret) < MIN_PLAIN_CHARS:
        raise ValueError(f"a secret must have at least {MIN_PLAIN_CHARS} characters")


def key_bytes(secret: str) -> bytes:
    if secret.startswith(PREFIX):
        return base64.b64decode(secret[len(PREFIX):])
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key_bytes(secret), signed, hashlib.sha256).digest()).decode()


def headers(secret: str | Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """``secret``: the current one, or the current one and those still honoured after a rotation."""
    keys = [secret] if isinstance(secret, str) else list(secret)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(k, msg_id, timestamp, body) for k in keys),
    }


def verify(secret: str, msg_id: str, timestamp: str, body: bytes, signature_header: str, *,
           tolerance_s: float = DEFAULT_TOLERANCE_S, now: float | None = None) -> bool:
    """What a receiver does: the timestamp within ``tolerance_s`` of now (a captured request cannot be
    replayed later) and one of the space-separated signatures (key rotation) matching."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    expected = sign(secret, msg_id, ts, body)
    return any(hmac.compare_digest(expected.encode(), s.encode()) for s in signature_header.split())
