"""The correlation context of the work in progress: which request or event caused it.

The HTTP middleware binds a correlation id per request (taken from ``X-Request-ID`` /
``X-Correlation-ID`` or created), the consumer runner binds the consumed event's correlation id and
id while its handler runs. ``outbox.record`` defaults an event's ``correlation_id`` and
``causation_id`` from here, and the JSON log formatter stamps every line with it, so one request can be
followed through every hop without each handler passing ids along by hand.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

REQUEST_ID_HEADERS = ("x-request-id", "x-correlation-id")
# Ids from outside are echoed in headers and logs: accept only short, plain tokens.
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")


@dataclass(frozen=True)
class Context:
    correlation_id: str
    event_id: str | None = None  # the consumed event being handled: the cause of what is recorded now
    event_type: str | None = None


_current: ContextVar[Context | None] = ContextVar("cxc_correlation", default=None)


def current() -> Context | None:
    return _current.get()


@contextlib.contextmanager
def bound(correlation_id: str, *, event_id: str | None = None, event_type: str | None = None) -> Iterator[Context]:
    ctx = Context(correlation_id, event_id, event_type)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def new_id() -> str:
    return str(uuid.uuid4())


def from_headers(headers) -> str:
    """The caller's request id when it is acceptable, else a fresh one."""
    for name in REQUEST_ID_HEADERS:
        value = (headers.get(name) or "").strip()
        if value and _ACCEPTABLE.match(value):
            return value
    return new_id()


def defaults(correlation_id: str | None, causation_id: str | None) -> tuple[str | None, str | None]:
    """Explicit ids win; missing ones come from the bound context (if any)."""
    ctx = current()
    if ctx is None:
        return correlation_id, causation_id
    return correlation_id or ctx.correlation_id, causation_id or ctx.event_id
