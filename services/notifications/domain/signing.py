"""Webhook signatures, following the Standard Webhooks convention (standardwebhooks.com).

Every delivery carries three headers:

- ``webhook-id``: the delivery id; the same on every retry of one delivery, so receivers can deduplicate.
- ``webhook-timestamp``: integer Unix seconds of this attempt; receivers should reject old ones (replays).
- ``webhook-signature``: ``v1,`` + base64(HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}.{body}")),
  where body is the exact raw request body (UTF-8 JSON of the CloudEvent).

The key: a secret of the form ``whsec_<base64>`` (what this service generates when the subscriber sends
none) is used as the base64-decoded bytes after the prefix, exactly as the Standard Webhooks libraries do;
any other secret a subscriber chose is used as its UTF-8 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def key_bytes(secret: str) -> bytes:
    if secret.startswith(PREFIX):
        return base64.b64decode(secret[len(PREFIX):])
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key_bytes(secret), signed, hashlib.sha256).digest()).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
        "content-type": "application/json",
    }


def verify(secret: str, msg_id: str, timestamp: str, body: bytes, signature_header: str) -> bool:
    """What a receiver does; the header may carry several space-separated signatures (key rotation)."""
    expected = sign(secret, msg_id, int(timestamp), body)
    return any(hmac.compare_digest(expected, s) for s in signature_header.split())
