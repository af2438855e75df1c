"""Request limits every service applies, from one implementation: body size, request budgets per API key
and per client address, and a cap on requests in flight.

Budgets are fixed windows counted in PostgreSQL, in an UNLOGGED table of the service's schema, so every
replica of a service shares them (a per-process counter would multiply a key's allowance by the number of
replicas and reset on every restart). UNLOGGED because a counter is not worth a durable commit: a
transaction that writes only unlogged tables writes no WAL for them, and PostgreSQL then commits it
without waiting for a WAL flush (the same effect as ``synchronous_commit = off``), so a key's requests
queue only on the row lock for the length of one statement, never on an fsync. The price is that a crash
of the database server empties the table, which forgives at most one window. A fixed window allows a
burst of up to twice the limit across a window boundary, acceptable for stopping runaway scripts and
scrapers. Issue 15 (throughput) may replace the row per key with per-replica token buckets that settle
with the table in batches; the interface (``Budgets.charge``) stays.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass

import asyncpg

from shared.problems import problem_response

NUL_MESSAGE = "NUL characters are not allowed"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int


class Budgets:
    """Fixed-window budgets by bucket name (``key:<id>``, ``addr:<ip>``), shared through the database."""

    def __init__(self, pool: asyncpg.Pool, window_s: int) -> None:
        self.pool = pool
        self.window_s = window_s

    def window_no(self, now: float | None = None) -> int:
        return int((time.time() if now is None else now) // self.window_s)

    def retry_after(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        return max(1, math.ceil((self.window_no(now) + 1) * self.window_s - now))

    async def charge(self, bucket: str, cost: int, limit: int, conn: asyncpg.Connection | None = None) -> Verdict:
        """Spend ``cost`` units of ``bucket``'s budget in the current window, or nothing when that would
        exceed ``limit``: a refused request (or batch) does not use up what is left. ``conn``: a connection
        the caller holds (outside any transaction: the statement commits on its own, so the row lock is
        held for one statement, never across the request's write), else one is taken from the pool."""
        now = time.time()
        if cost > limit:
            return Verdict(False, self.retry_after(now))
        if conn is None:
            async with self.pool.acquire() as held:
                return await self._charge(held, bucket, cost, limit, now)
        return await self._charge(conn, bucket, cost, limit, now)

    async def _charge(self, conn: asyncpg.Connection, bucket: str, cost: int, limit: int, now: float) -> Verdict:
        window_no = self.window_no(now)
        used = await conn.fetchval(
            """INSERT INTO request_budgets AS b (bucket, window_no, used) VALUES ($1, $2, $3)
               ON CONFLICT (bucket) DO UPDATE SET
                   used = CASE WHEN b.window_no = EXCLUDED.window_no THEN b.used + EXCLUDED.used
                               ELSE EXCLUDED.used END,
                   window_no = EXCLUDED.window_no
               WHERE b.window_no <> EXCLUDED.window_no OR b.used + EXCLUDED.used <= $4
               RETURNING used""",
            bucket, window_no, cost, limit,
        )
        if random.random() < 0.001:
            # Buckets of addresses that stopped calling would otherwise stay forever.
            await conn.execute("DELETE FROM request_budgets WHERE window_no < $1", window_no - 1)
        return Verdict(used is not None, 0 if used is not None else self.retry_after(now))


def too_many(detail: str, retry_after_s: int, path: str):
    return problem_response(429, detail, kind="rate-limited", instance=path,
                            headers={"Retry-After": str(retry_after_s)})


def too_large(cap: int, path: str):
    return problem_response(413, f"The request body is larger than {cap} bytes", kind="payload-too-large",
                            instance=path)


def nul_refused(where: str, path: str):
    return problem_response(422, f"The request is invalid: {where}", kind="validation-error",
                            title="Validation failed", instance=path,
                            errors=[{"field": where, "message": NUL_MESSAGE, "type": "value_error"}])


def nul_in_json(body: bytes) -> str | None:
    """The path of the first string holding a NUL character, if the body is JSON: PostgreSQL text cannot
    hold them, and no field of any service has a use for them."""
    if b"\\u0000" not in body and b"\x00" not in body:
        return None
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
