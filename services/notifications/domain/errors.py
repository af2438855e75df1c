"""Delivery errors without personal data.

A mail server's refusal usually repeats the address (``550 5.1.1 <anna@example.org>: Recipient address
rejected``), sometimes a local part or a name. What is stored in ``last_error``, published in
``notification.failed``, logged or returned by the API is therefore built from the reply code, the
enhanced status code (RFC 3463) and the dialogue stage only; the server's free text is never kept.
Texts that are not a server reply (exception messages) pass through ``mask`` first.
"""

from __future__ import annotations

import re

# RFC 3463 subject classes: the middle digit of an enhanced status code.
_SUBJECTS = {
    "0": "other or undefined status",
    "1": "addressing status",
    "2": "mailbox status",
    "3": "mail system status",
    "4": "network and routing status",
    "5": "mail delivery protocol status",
    "6": "message content or media status",
    "7": "security or policy status",
}
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")

_EMAIL = re.compile(r"[^\s<>()\[\]{},;:\"'`]+@[^\s<>()\[\]{},;:\"'`]+")
_ANGLED = re.compile(r"<[^<>]*>")


def mask(text: str) -> str:
    """Replace anything address-like (``x@y``, and whatever stands in angle brackets) with a marker."""
    return _ANGLED.sub("<…>", _EMAIL.sub("[address]", text))


def smtp_reply(stage: str, code: int | None, server_text: str = "") -> str:
    """``SMTP 550 5.1.1 at RCPT: permanent, addressing status``: code, class and stage, no free text."""
    if code is None or code < 0:
        return f"SMTP error at {stage}: no reply code"
    enhanced = _ENHANCED.search(server_text or "")
    kind = {2: "success", 3: "intermediate", 4: "transient", 5: "permanent"}.get(code // 100, "unexpected")
    parts = [f"SMTP {code}"]
    if enhanced:
        parts.append(enhanced.group(0))
    detail = f"{kind}, {_SUBJECTS.get(enhanced.group(2), 'other status')}" if enhanced else kind
    return f"{' '.join(parts)} at {stage}: {detail}"
