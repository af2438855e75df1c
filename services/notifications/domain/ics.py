"""iCalendar (RFC 5545) for one meeting: REQUEST when scheduled or moved, CANCEL when dropped.

The UID is the meeting id and SEQUENCE the schedule version, so calendar clients update or remove the
entry they already hold instead of adding a second one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared import ical


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
        ical.line("UID", f"{meeting_id}@clusterxchange.eu", text=True),
        f"SEQUENCE:{int(sequence)}",
        f"DTSTAMP:{_utc(stamp or datetime.now(UTC))}",
        f"DTSTART:{_utc(starts_at)}",
        f"DTEND:{_utc(ends_at)}",
        ical.line("SUMMARY", summary, text=True),
        f"STATUS:{'CANCELLED' if cancel else 'CONFIRMED'}",
    ]
    if location:
        lines.append(ical.line("LOCATION", location, text=True))
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return ical.serialize(lines)
