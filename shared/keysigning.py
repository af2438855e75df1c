"""Signed API-key events: the authority over keys stays in registration.

Every service authenticates callers from its own replica of the key table, fed by ``apikey.*`` events. A
replica that applied whatever arrived on ``cxc.keys`` would let anyone who can produce to that topic mint a
coordinator key valid in every service, or revoke a partner's keys. So registration signs each key event
with an Ed25519 private key only it holds (``CXC_KEY_SIGNING_PRIVATE_KEY``), and every replica checks the
signature with the public key (``CXC_KEY_SIGNING_PUBLIC_KEY``) before applying it; anything unsigned or
badly signed is dead-lettered and counted (``cxc_key_events_rejected_total``).

We chose signatures over a lookup to registration with a short cache because the replicas then keep
authenticating while registration is down, and a revocation still reaches them in event order.

Key format (both variables): the base64 of the 32 raw key bytes (what ``cxc keys keypair`` prints, one
line, convenient in .env files), or PEM (PKCS#8 private key / SubjectPublicKeyInfo public key).

What is signed: a domain-separation prefix, the event type and the payload without its ``signature`` as
canonical JSON (sorted keys, no spaces, ASCII). The event id and time are not signed: a replayed signed
event applies the same change again, which the replicas' idempotency and revocation tombstones make harmless.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PRIVATE_KEY_VAR = "CXC_KEY_SIGNING_PRIVATE_KEY"
PUBLIC_KEY_VAR = "CXC_KEY_SIGNING_PUBLIC_KEY"
_DOMAIN = b"clusterxchange/apikey-event/ed25519/1\n"


class KeySigningError(ValueError):
    """A key-signing key is missing or malformed (configuration problem; names the variable)."""


def generate_keypair() -> tuple[str, str]:
    """A new (private, public) pair, each as base64 of the raw 32 bytes."""
    private = Ed25519PrivateKey.generate()
    return _b64(private.private_bytes_raw()), _b64(private.public_key().public_bytes_raw())


def public_key_of(private_text: str) -> str:
    return _b64(load_private_key(private_text).public_key().public_bytes_raw())


def public_key_of_text(public_text: str) -> str:
    """A public key in either format as base64 of its raw bytes, to compare keys."""
    return _b64(load_public_key(public_text).public_bytes_raw())


def private_key_pem(private_text: str) -> str:
    return load_private_key(private_text).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_key_pem(public_text: str) -> str:
    return load_public_key(public_text).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_private_key(text: str, var: str = PRIVATE_KEY_VAR) -> Ed25519PrivateKey:
    text = (text or "").strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise KeySigningError(f"{var} is a PEM key but not an Ed25519 private key")
            return key
        return Ed25519PrivateKey.from_private_bytes(_raw32(text, var))
    except KeySigningError:
        raise
    except (ValueError, TypeError) as exc:
        raise KeySigningError(f"{var} is not an Ed25519 private key (base64 of 32 bytes, or PEM)") from exc


def load_public_key(text: str, var: str = PUBLIC_KEY_VAR) -> Ed25519PublicKey:
    text = (text or "").strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise KeySigningError(f"{var} is a PEM key but not an Ed25519 public key")
            return key
        return Ed25519PublicKey.from_public_bytes(_raw32(text, var))
    except KeySigningError:
        raise
    except (ValueError, TypeError) as exc:
        raise KeySigningError(f"{var} is not an Ed25519 public key (base64 of 32 bytes, or PEM)") from exc


def signing_input(event_type: str, data: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in data.items() if k != "signature"}
    body = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return _DOMAIN + event_type.encode() + b"\n" + body.encode()


class KeySigner:
    """Registration's half: signs the payload of an apikey.* event."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key

    @classmethod
    def from_text(cls, text: str) -> KeySigner:
        return cls(load_private_key(text))

    def sign(self, event_type: str, data: dict[str, Any]) -> str:
        return _b64(self._key.sign(signing_input(event_type, data)))


class KeyVerifier:
    """Every replica's half: is this apikey.* payload signed by registration's key?"""

    def __init__(self, public_key: Ed25519PublicKey) -> None:
        self._key = public_key

    @classmethod
    def from_text(cls, text: str) -> KeyVerifier:
        return cls(load_public_key(text))

    def problem(self, event_type: str, data: dict[str, Any]) -> str | None:
        """None when the signature is valid, else the reason: ``unsigned`` or ``bad-signature``."""
        signature = data.get("signature") or ""
        if not signature:
            return "unsigned"
        try:
            raw = base64.b64decode(signature, validate=True)
            self._key.verify(raw, signing_input(event_type, data))
        except (InvalidSignature, binascii.Error, ValueError):
            return "bad-signature"
        return None


_signer: KeySigner | None = None


def configure_signer(signer: KeySigner | None) -> None:
    """Registration's runtime sets the signer from its validated settings at start-up."""
    global _signer
    _signer = signer


def default_signer() -> KeySigner:
    """The configured signer, else one from ``CXC_KEY_SIGNING_PRIVATE_KEY`` (CLI commands, the tests).
    Fails closed: without the private key no key can be issued or revoked."""
    if _signer is not None:
        return _signer
    text = os.environ.get(PRIVATE_KEY_VAR, "")
    if not text.strip():
        raise KeySigningError(f"{PRIVATE_KEY_VAR} is not set: only registration, which holds it, issues and "
                              "revokes API keys (generate a pair with `cxc keys keypair`)")
    return KeySigner.from_text(text)


def _raw32(text: str, var: str) -> bytes:
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error as exc:
        raise KeySigningError(f"{var} is neither PEM nor base64") from exc
    if len(raw) != 32:
        raise KeySigningError(f"{var} must be 32 bytes in base64 (got {len(raw)})")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
