"""Building a MIME message and handing it to an SMTP server (aiosmtplib)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib


class PermanentFailure(RuntimeError):
    """The server refused for good (5xx): retrying cannot help."""


def message_id_for(delivery_id: str) -> str:
    # Derived from the delivery, so a copy sent again after a crash carries the same id and can be
    # recognised (and dropped) as a duplicate by the receiving system or the recipient's client.
    return f"<{delivery_id}@clusterxchange.eu>"


def build(
    *, delivery_id: str, sender: str, to: str, subject: str, text: str, html: str, language: str,
    ics: tuple[str, str] | None = None, unsubscribe_url: str | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id_for(delivery_id)
    msg["Content-Language"] = language
    msg["X-CXC-Delivery-ID"] = delivery_id
    if unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
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


async def send(msg: EmailMessage, *, host: str, port: int, timeout_s: float) -> None:
    """Return once the server accepted the message (250 after DATA); raise PermanentFailure on 5xx."""
    try:
        await aiosmtplib.send(msg, hostname=host, port=port, timeout=timeout_s, start_tls=False, use_tls=False)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        if all(r.code >= 500 for r in exc.recipients):
            raise PermanentFailure(str(exc)) from exc
        raise
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code >= 500:
            raise PermanentFailure(f"{exc.code} {exc.message}") from exc
        raise
