"""Building a MIME message and handing it to an SMTP server (aiosmtplib), over TLS with a login if set.

Every failure leaves this module as ``PermanentFailure`` or ``TransientFailure`` whose text is built
from reply codes and the dialogue stage (``domain.errors``), never from the server's free text, which
often repeats the recipient's address. The original exception is dropped (``from None``) so no log
line or traceback further up can carry it either.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path

import aiosmtplib

from services.notifications.domain.errors import mask, smtp_reply
from services.notifications.domain.headers import header_text, safe_address


class PermanentFailure(RuntimeError):
    """The server refused this message for good (5xx): retrying cannot help."""


class TransientFailure(RuntimeError):
    """Try again later. ``config`` marks failures no message can get past until an operator acts
    (wrong password, untrusted certificate, no STARTTLS): they are retried, and logged as errors."""

    def __init__(self, reason: str, *, config: bool = False) -> None:
        super().__init__(reason)
        self.config = config


class UnusableAddress(ValueError):
    """The recipient's stored address cannot be put in a header safely."""


def message_id_for(delivery_id: str) -> str:
    # Derived from the delivery, so a copy sent again after a crash carries the same id and can be
    # recognised (and dropped) as a duplicate by the receiving system or the recipient's client.
    return f"<{delivery_id}@clusterxchange.eu>"


_SPECIALS = re.compile(r'[()<>\[\]:;@\\,"]')


def mailbox(display_name: str | None, address: str) -> str:
    """``Name <addr>`` with the name neutralised and quoted as needed; the address checked, not altered."""
    if not safe_address(address):
        raise UnusableAddress("the address cannot be used in a mail header")
    # Without RFC 5322 specials: Python's folder drops the quotes around a long display name, and an
    # unquoted "Bcc: x@evil.example <…>" would then read as other addresses.
    name = header_text(_SPECIALS.sub(" ", header_text(display_name or "")), limit=120)
    if not name:
        return address
    local, _, domain = address.rpartition("@")
    return str(Address(display_name=name, username=local, domain=domain))


def sender_mailbox(configured: str) -> str:
    name, address = parseaddr(configured)
    return mailbox(name, address)


def build(
    *, delivery_id: str, sender: str, to: str, subject: str, text: str, html: str, language: str,
    ics: tuple[str, str] | None = None, unsubscribe_url: str | None = None, to_name: str | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender_mailbox(sender)
    msg["To"] = mailbox(to_name, to)
    msg["Subject"] = header_text(subject)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id_for(delivery_id)
    msg["Content-Language"] = header_text(language, limit=20)
    msg["X-CXC-Delivery-ID"] = delivery_id
    if unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{header_text(unsubscribe_url, limit=2000)}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    if ics is not None:
        method, body = ics
        msg.add_attachment(
            body.encode(), maintype="text", subtype="calendar", filename="meeting.ics",
            params={"method": method, "charset": "utf-8"},
        )
    return msg


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to hand mail over. ``tls``: none (plain, for a local catcher), starttls (upgrade is
    required: a server without STARTTLS is refused before anything else is said), implicit (TLS from the
    first byte, usually port 465)."""

    host: str
    port: int
    tls: str = "starttls"
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    timeout_s: float = 20.0

    def tls_context(self) -> ssl.SSLContext | None:
        if self.tls == "none":
            return None
        # System roots plus the private CA, with hostname checks: never an unverified connection.
        context = ssl.create_default_context()
        if self.ca_file is not None:
            context.load_verify_locations(cafile=str(self.ca_file))
        return context


async def send(msg: EmailMessage, server: SmtpServer, tls_context: ssl.SSLContext | None = None) -> None:
    """Return once the server accepted the message (250 after DATA)."""
    if server.username and server.tls == "none":
        raise TransientFailure("SMTP: refusing to log in without TLS", config=True)
    try:
        await aiosmtplib.send(
            msg, hostname=server.host, port=server.port, timeout=server.timeout_s,
            use_tls=server.tls == "implicit", start_tls=server.tls == "starttls",
            tls_context=(tls_context or server.tls_context()) if server.tls != "none" else None,
            username=server.username, password=server.password,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        worst = max(exc.recipients, key=lambda r: r.code)
        reason = smtp_reply("RCPT", worst.code, worst.message)
        if all(c >= 500 and c != 530 for c in codes):
            raise PermanentFailure(reason) from None
        raise TransientFailure(reason, config=530 in codes) from None
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise TransientFailure(
            f"{smtp_reply('AUTH', exc.code, exc.message)}: login refused, check CXC_NOTIFICATIONS_SMTP_USERNAME "
            "and CXC_NOTIFICATIONS_SMTP_PASSWORD", config=True) from None
    except aiosmtplib.SMTPDataError as exc:
        reason = smtp_reply("DATA", exc.code, exc.message)
        if exc.code >= 500:
            raise PermanentFailure(reason) from None
        raise TransientFailure(reason) from None
    except aiosmtplib.SMTPSenderRefused as exc:
        # Refusing our sender refuses every message: that is the configuration, not this mail.
        reason = smtp_reply("MAIL", exc.code, exc.message)
        if exc.code == 552:
            raise PermanentFailure(reason) from None
        raise TransientFailure(reason, config=exc.code >= 500) from None
    except aiosmtplib.SMTPResponseException as exc:  # greeting, EHLO, STARTTLS answered with an error
        raise TransientFailure(smtp_reply("session", exc.code, exc.message), config=exc.code >= 500) from None
    except ssl.SSLCertVerificationError as exc:
        raise TransientFailure(f"SMTP TLS: certificate not trusted ({exc.verify_message}); set "
                               "CXC_NOTIFICATIONS_SMTP_CA_FILE for a private CA", config=True) from None
    except aiosmtplib.SMTPTimeoutError:
        raise TransientFailure("SMTP: timed out") from None
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, ConnectionError) as exc:
        if isinstance(exc.__cause__, ssl.SSLCertVerificationError):  # implicit TLS: raised while connecting
            raise TransientFailure(f"SMTP TLS: certificate not trusted ({exc.__cause__.verify_message}); set "
                                   "CXC_NOTIFICATIONS_SMTP_CA_FILE for a private CA", config=True) from None
        raise TransientFailure(f"SMTP connection failed: {type(exc).__name__}: {mask(str(exc))}") from None
    except aiosmtplib.SMTPException as exc:  # STARTTLS or AUTH not offered, no usable auth method
        text = str(exc)
        config = "STARTTLS" in text or "AUTH" in text or "authentication" in text
        raise TransientFailure(f"SMTP: {mask(text)}", config=config) from None
    except (ssl.SSLError, OSError, TimeoutError) as exc:
        raise TransientFailure(f"SMTP connection failed: {type(exc).__name__}: {mask(str(exc))}") from None
