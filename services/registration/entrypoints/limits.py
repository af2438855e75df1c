"""Request limits of the ingress API: body size, per-key rate, and the Idempotency-Key header."""

from __future__ import annotations

import hashlib
import json
import math
import time
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute

from services.registration.adapters import repository
from services.registration.handlers import Idempotency
from shared.auth import CallerDep
from shared.problems import Problem, problem_response
from shared.service import pool_of


class GuardedRoute(APIRoute):
    """Checks what no schema can express before the route parses anything:

    - 413 once a request body exceeds ``max_body_bytes``: at once when Content-Length says so, and while
      reading a chunked body, so an oversized upload is never buffered whole;
    - 422 for NUL characters anywhere in the query or a JSON body: PostgreSQL text cannot hold them, and
      no field of this API has a use for them."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            cap = request.app.state.service.settings.max_body_bytes
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                return _too_large(request, cap)
            if "%00" in request.url.query or "\x00" in request.url.query:
                return _nul(request, "query")
            if request.method in ("POST", "PUT", "PATCH", "DELETE"):
                body = bytearray()
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > cap:
                        return _too_large(request, cap)
                request._body = bytes(body)
                if (b"\\u0000" in body or b"\x00" in body) and (where := _nul_in_json(bytes(body))):
                    return _nul(request, where)
            return await handler(request)

        return guarded


def _nul_in_json(body: bytes) -> str | None:
    """The path of the first string holding a NUL character, if the body is JSON."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None if b"\x00" not in body else "body"
    stack: list[tuple[str, object]] = [("body", doc)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str) and "\x00" in value:
            return path
        if isinstance(value, dict):
            for k, v in value.items():
                if "\x00" in k:
                    return path
                stack.append((k if path == "body" else f"{path}.{k}", v))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}", v) for i, v in enumerate(value))
    return None


def _nul(request: Request, where: str) -> Response:
    message = "NUL characters are not allowed"
    return problem_response(422, f"The request is invalid: {where}", kind="validation-error",
                            title="Validation failed", instance=request.url.path,
                            errors=[{"field": where, "message": message, "type": "value_error"}])


def _too_large(request: Request, cap: int) -> Response:
    return problem_response(413, f"The request body is larger than {cap} bytes", kind="payload-too-large",
                            instance=request.url.path)


async def rate_limit(request: Request, who: CallerDep) -> None:
    """Fixed-window limit per API key, counted in PostgreSQL, so it is shared by every replica.

    A per-process counter would let a partner multiply its allowance by the number of replicas behind the
    load balancer (and reset it on every restart); the database every replica already uses makes the
    limit exact at the cost of one single-row upsert per request, next to the key lookup auth already
    does. A fixed window allows a burst of up to twice the limit across a window boundary, which is
    acceptable for protecting the ingress from runaway scripts."""
    s = request.app.state.service.settings
    now = time.time()
    window_no = int(now // s.rate_limit_window_s)
    async with pool_of(request).acquire() as conn:
        hits = await repository.hit(conn, who.key_id, window_no)
    if hits > s.rate_limit_requests:
        retry_after = max(1, math.ceil((window_no + 1) * s.rate_limit_window_s - now))
        raise Problem(
            429, f"More than {s.rate_limit_requests} requests in {s.rate_limit_window_s}s with this key",
            kind="rate-limited", headers={"Retry-After": str(retry_after)},
        )


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
