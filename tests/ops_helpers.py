"""Shared by the ops tests (tests/*/test_ops_*.py): a registration service in-process, JSON-lines output."""

from __future__ import annotations

import io
import json
from contextlib import asynccontextmanager

from cxc.ops.render import Output
from tests.support.payloads import PARTICIPANT
from tests.support.services import auth, running_registration

BODY = PARTICIPANT


@asynccontextmanager
async def registration(database_url: str, kafka_bootstrap: str):
    """The registration service (with its outbox relay, polling often) and an HTTP client holding the
    ``mazovia`` partner key (tests.support.services.KEYS)."""
    async with running_registration(database_url, kafka_bootstrap, relay_poll_interval_s=0.1) as client:
        client.headers.update(auth(client, "mazovia"))
        yield client


class Captured(Output):
    """JSON-lines output kept in memory."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.errors = io.StringIO()
        super().__init__(json_lines=True, stream=self.buffer, err=self.errors)

    @property
    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines()]
