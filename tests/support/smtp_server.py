"""A real SMTP server for tests that want what a production relay demands: TLS and a login.

aiosmtpd in a background thread with a certificate from a throw-away CA (trustme). Modes:

- ``tls="starttls"`` (default): STARTTLS offered and required before anything else, AUTH required and only
  accepted over TLS. Usually port 587.
- ``tls="implicit"``: TLS from the first byte (port 465 style), AUTH required.
- ``tls="none"``: plain SMTP that still offers AUTH in clear (``auth_require_tls=False``), to prove a client
  that insists on STARTTLS says nothing, least of all its password, to such a server.

Usage::

    with SmtpTestServer() as smtp:                       # or SmtpTestServer(tls="implicit")
        settings = NotificationsSettings(**smtp.settings_kwargs(), ...)
        env = smtp.env()                                 # CXC_NOTIFICATIONS_SMTP_* for a subprocess
        ...
        [msg] = smtp.to("anna@example.org")              # email.message.EmailMessage objects

``refuse_recipient`` (address -> reply or None) and ``before_accept`` (message -> reply or None) make it
refuse like a real server would; ``logins`` records (username, accepted) of every AUTH attempt,
``mail_from_seen`` counts MAIL commands.
"""

from __future__ import annotations

import email
import email.policy
import secrets
import ssl
import tempfile
import threading
import warnings
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from cxc.infra.embedded import free_port


class _Controller(Controller):
    def factory(self):
        # The plain mode offers AUTH in clear on purpose (see above), and aiosmtpd cannot tell implicit
        # TLS from none; its warning about that is expected here.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
            return super().factory()


class _Handler:
    def __init__(self, server: SmtpTestServer) -> None:
        self.server = server

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.server._lock:
            self.server.mail_from_seen += 1
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.server.refuse_recipient is not None and (reply := self.server.refuse_recipient(address)):
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        if self.server.before_accept is not None and (reply := self.server.before_accept(msg)):
            return reply
        with self.server._lock:
            self.server.messages.append(msg)
            self.server.recipients.append(list(envelope.rcpt_tos))
            self.server.raw.append(envelope.content)
        return "250 Message accepted for delivery"


class SmtpTestServer:
    def __init__(
        self, *, tls: str = "starttls", username: str = "cxc-mailer", password: str | None = None,
        host: str = "127.0.0.1", port: int = 0, ca: trustme.CA | None = None,
    ) -> None:
        if tls not in ("none", "starttls", "implicit"):
            raise ValueError(f"tls must be none, starttls or implicit, not {tls!r}")
        self.tls = tls
        self.username = username
        self.password = password or secrets.token_urlsafe(18)
        self.ca = ca or trustme.CA()
        self._dir = Path(tempfile.mkdtemp(prefix="cxc-smtp-"))
        self.ca_file = self._dir / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.raw: list[bytes] = []
        self.logins: list[tuple[str, bool]] = []
        self.mail_from_seen = 0
        self.refuse_recipient: Callable[[str], str | None] | None = None
        self.before_accept: Callable[[EmailMessage], str | None] | None = None
        self._lock = threading.Lock()

        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(server_ctx)
        params: dict = {"authenticator": self._authenticate, "auth_required": True}
        if tls == "starttls":
            params |= {"tls_context": server_ctx, "require_starttls": True, "auth_require_tls": True}
        elif tls == "implicit":
            # aiosmtpd only knows TLS it negotiated by STARTTLS; here every byte is already encrypted.
            params |= {"ssl_context": server_ctx, "auth_require_tls": False}
        else:
            params |= {"auth_require_tls": False}
        self._controller = _Controller(
            _Handler(self), hostname=host, port=port or free_port(), server_hostname="localhost", **params
        )

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and secrets.compare_digest(auth_data.login, self.username.encode())
            and secrets.compare_digest(auth_data.password, self.password.encode())
        )
        with self._lock:
            login = auth_data.login.decode(errors="replace") if isinstance(auth_data, LoginPassword) else "?"
            self.logins.append((login, ok))
        return AuthResult(success=ok, handled=False)

    @property
    def host(self) -> str:
        return self._controller.hostname

    @property
    def port(self) -> int:
        return self._controller.port

    def start(self) -> SmtpTestServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpTestServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def settings_kwargs(self, **overrides) -> dict:
        """Keyword arguments for NotificationsSettings that make the service use this server."""
        return {
            "smtp_host": self.host, "smtp_port": self.port, "smtp_tls": self.tls,
            "smtp_username": self.username if self.tls != "none" else None,
            "smtp_password": self.password if self.tls != "none" else None,
            "smtp_ca_file": self.ca_file,
        } | overrides

    def env(self) -> dict[str, str]:
        """The same as CXC_NOTIFICATIONS_SMTP_* variables, for a service started as a process."""
        return {
            f"CXC_NOTIFICATIONS_{k.upper()}": str(v) for k, v in self.settings_kwargs().items() if v is not None
        }

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m, rcpts in zip(self.messages, self.recipients, strict=True) if address in rcpts]
