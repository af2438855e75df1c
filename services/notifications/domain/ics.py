"""iCalendar (RFC 5545) for one meeting: REQUEST when scheduled or moved, CANCEL when dropped.

The UID is the meeting id and SEQUENCE the schedule version, so calendar clients update or remove the
entry they already hold instead of adding a second one.
"""

from __future__ import annotations

from datetime import UTC, datetime


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    raw = line.encode()
    if len(raw) <= 75:
        return line
    parts, current = [], b""
    for ch in line:
        b = ch.encode()
        if len(current) + len(b) > (75 if not parts else 74):
            parts.append(current.decode())
            current = b""
        current += b
    parts.append(current.decode())
    return "\r\n ".join(parts)


def _utc(at: datetime | str) -> str:
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def meeting_ics(
    *, meeting_id: str, sequence: int, starts_at, ends_at, summary: str, location: str | None, cancel: bool = False,
    stamp: datetime | None = None,
) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//ClusterXchange//notifications//EN",
        f"METHOD:{'CANCEL' if cancel else 'REQUEST'}",
        "BEGIN:VEVENT",
        f"UID:{meeting_id}@clusterxchange.eu",
        f"SEQUENCE:{sequence}",
        f"DTSTAMP:{_utc(stamp or datetime.now(UTC))}",
        f"DTSTART:{_utc(starts_at)}",
        f"DTEND:{_utc(ends_at)}",
        f"SUMMARY:{_escape(summary)}",
        f"STATUS:{'CANCELLED' if cancel else 'CONFIRMED'}",
    ]
    if location:
        lines.append(f"LOCATION:{_escape(location)}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
