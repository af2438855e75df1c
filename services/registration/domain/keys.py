"""API keys: random secrets shown once, stored as SHA-256 digests.

A key is 32 random bytes, so a fast hash is enough: there is no dictionary to brute-force, and lookup by
digest keeps authentication to one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "cxc_"


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def display_prefix(key: str) -> str:
    return key[: len(PREFIX) + 6]
