"""The invitation attached to a meeting mail (RFC 5546): REQUEST when scheduled or moved, CANCEL when dropped.

UID and SEQUENCE are those of the agenda feed (shared/ical.py), so the entry the mail adds is the one the
feed updates, and a later REQUEST or CANCEL replaces it. ORGANIZER is the programme's sending address; the
only ATTENDEE is the recipient, with the address and name this very mail is sent to: the other
participant's contact data never appears in someone else's mail.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared import ical


def zone_of(name: str | None) -> tzinfo:
    """The activity's zone; UTC when it is unknown (the times are absolute either way)."""
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _at(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def meeting_ics(
    *, meeting_id: str, sequence: int, starts_at, ends_at, summary: str, location: str | None, organizer: str,
    attendee: str, attendee_name: str | None = None, timezone: str | None = None, cancel: bool = False,
    stamp: datetime | None = None,
) -> str:
    zone = zone_of(timezone)
    # RSVP=FALSE: the organizer is a no-reply mailbox; meetings are answered in the platform.
    me = ical.address(attendee, attendee_name, role="REQ-PARTICIPANT", partstat="ACCEPTED", rsvp="FALSE")
    event = ical.meeting_event(
        meeting_id=meeting_id, sequence=sequence, starts_at=_at(starts_at), ends_at=_at(ends_at), zone=zone,
        summary=summary, location=location, organizer=ical.organizer(organizer), attendees=(me,),
        stamp=stamp or datetime.now(UTC), status="CANCELLED" if cancel else "CONFIRMED",
    )
    return ical.serialize(ical.calendar("CANCEL" if cancel else "REQUEST", "Notifications", [event], zone))
