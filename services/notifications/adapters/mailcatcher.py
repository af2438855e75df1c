"""A local SMTP catcher (aiosmtpd): accepts every message and keeps it, for ``cxc run`` and the tests.

Each accepted message is kept in memory and, when a directory is given, written to ``<dir>/<n>.eml``
(what ``cxc mail list`` reads). Production uses a real relay; docker-compose uses Mailpit.
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller

from cxc.infra.embedded import free_port


class _Handler:
    def __init__(self, catcher: MailCatcher) -> None:
        self.catcher = catcher

    async def handle_DATA(self, server, session, envelope) -> str:
        return self.catcher._accept(envelope.content, list(envelope.rcpt_tos))


class MailCatcher:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, directory: Path | None = None) -> None:
        self.directory = directory
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        # Lets a test make the catcher misbehave (e.g. refuse, or fail after accepting).
        self.before_accept: Callable[[EmailMessage], str | None] | None = None
        self._lock = threading.Lock()
        if port == 0:  # aiosmtpd connects to its own port to check it is up, so it needs a real one
            port = free_port()
        self._controller = Controller(_Handler(self), hostname=host, port=port)

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def host(self) -> str:
        return self._controller.hostname

    def start(self) -> MailCatcher:
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def _accept(self, content: bytes, rcpt_tos: list[str]) -> str:
        msg = email.message_from_bytes(content, policy=email.policy.default)
        if self.before_accept is not None and (reply := self.before_accept(msg)):
            return reply
        with self._lock:
            self.messages.append(msg)
            self.recipients.append(rcpt_tos)
            if self.directory is not None:
                n = len(list(self.directory.glob("*.eml"))) + 1
                (self.directory / f"{n:06d}.eml").write_bytes(content)
        return "250 Message accepted for delivery"

    def by_message_id(self, message_id: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if str(m["Message-ID"]).strip() == message_id]

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m, rcpts in zip(self.messages, self.recipients, strict=True) if address in rcpts]


def read_dir(directory: Path) -> list[tuple[Path, EmailMessage]]:
    return [
        (p, email.message_from_bytes(p.read_bytes(), policy=email.policy.default))
        for p in sorted(directory.glob("*.eml"))
    ]


def start_for_devstack(home: Path) -> MailCatcher | None:
    """The catcher ``cxc run`` starts unless a real SMTP server is configured (CXC_NOTIFICATIONS_SMTP_HOST).
    It listens on CXC_NOTIFICATIONS_SMTP_PORT (default 1025, another free port if that one is taken) and
    exports the port it got, so the notifications process started afterwards sends to it."""
    import os

    from cxc.infra.embedded import port_open

    if os.environ.get("CXC_NOTIFICATIONS_SMTP_HOST"):
        return None
    port = int(os.environ.get("CXC_NOTIFICATIONS_SMTP_PORT", "1025"))
    if port_open(port):
        port = free_port()
    catcher = MailCatcher(port=port, directory=home / "mail").start()
    os.environ["CXC_NOTIFICATIONS_SMTP_PORT"] = str(catcher.port)
    # The catcher speaks plain SMTP on loopback and takes no login; the service's default (STARTTLS
    # required) is for real relays.
    os.environ["CXC_NOTIFICATIONS_SMTP_TLS"] = "none"
    os.environ.pop("CXC_NOTIFICATIONS_SMTP_USERNAME", None)
    os.environ.pop("CXC_NOTIFICATIONS_SMTP_PASSWORD", None)
    return catcher
