"""The Idempotency-Key header of the ingress API's writes. Body size, request budgets and NUL characters
are checked for every service by the gate (shared/gate.py, shared/limits.py)."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from fastapi import Depends, Header, Request

from services.registration.entrypoints.writes import Idempotency
from shared.auth import CallerDep


async def idempotency(
    request: Request,
    who: CallerDep,
    key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)] = None,
) -> Idempotency | None:
    """The claim a write makes with its Idempotency-Key: scoped to the API key, and fingerprinted over
    method, path and the body (JSON compared by value, so key order and whitespace do not matter)."""
    if key is None:
        return None
    raw = await request.body()
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode() if raw else b""
    except (ValueError, UnicodeDecodeError):
        canonical = raw
    digest = hashlib.sha256(b"\n".join([request.method.encode(), request.url.path.encode(), canonical])).hexdigest()
    return Idempotency(api_key_id=who.key_id, key=key, fingerprint=digest)


IdempotencyDep = Annotated[Idempotency | None, Depends(idempotency)]
