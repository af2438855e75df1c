"""iCalendar (RFC 5545, scheduling per RFC 5546): the one place that builds the calendars both services send.

The ``icalendar`` library writes the format (escaping, folding at 75 octets without splitting a UTF-8
character, VTIMEZONE from the zone database); this module decides what goes in, so that the agenda feed
(matchmaking) and the invitation attached to a mail (notifications) describe one meeting the same way:

- One UID per meeting, derived from its id (:func:`meeting_uid`), and SEQUENCE = the schedule version
  that placed (or removed) it, so a client updates the entry it holds instead of adding a second one.
- DTSTART/DTEND are local times of the activity's zone with a VTIMEZONE built from the zone database.

Why values are sanitised before the library sees them: a partner controls activity titles and organisation
names, and the library passes control characters (BEL, ESC, NUL…) and the Unicode line separators (NEL,
U+2028, U+2029) through raw; some readers split lines on those, which would let input end its property and
start components of its own. So every TEXT value goes through :func:`text` (line breaks of any kind become
one ``\\n`` the library escapes, other controls but HTAB are dropped, as §3.1's CONTROL rule requires) and
every parameter value through :func:`param` (no line break or control at all).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo
from email.utils import parseaddr
from functools import lru_cache
from zoneinfo import ZoneInfo

import icalendar
from icalendar import vCalAddress, vText

_LINE_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
# C0 controls but HTAB, DEL, and C1 controls (LF and NEL are line breaks, split off before this applies).
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f\x80-\x9f]")
UID_DOMAIN = "clusterxchange"


class Text(vText):
    """A TEXT value the library escapes, except that it does not read a typed ``\\N`` as a line break:
    the library treats ``\\N`` in a value as its own line-break notation, which would turn a title like
    ``C:\\New`` into two lines. Line breaks reach here as ``\\n`` (see :func:`text`)."""

    def to_ical(self) -> bytes:
        return b"\\\\N".join(vText(part).to_ical() for part in str(self).split("\\N"))


def text(value: str) -> Text:
    """A TEXT value that cannot leave its content line."""
    return Text("\n".join(_CONTROLS.sub("", part) for part in _LINE_BREAKS.split(str(value))))


def param(value: str) -> str:
    """A parameter value (e.g. CN): no line break, no control character."""
    return _CONTROLS.sub("", _LINE_BREAKS.sub(" ", str(value))).strip()


def meeting_uid(meeting_id: str) -> str:
    """The UID of a meeting in every calendar any service produces."""
    return f"{meeting_id}@{UID_DOMAIN}"


def address(email: str, name: str | None = None, **params: str) -> vCalAddress:
    """A CAL-ADDRESS (``mailto:``) with CN and further parameters (ROLE, PARTSTAT, RSVP…)."""
    email = param(email)
    if "@" not in email or any(c in email for c in ' <>"'):
        raise ValueError("not a usable calendar address")
    cal_address = vCalAddress(f"mailto:{email}")
    if name and param(name):
        cal_address.params["CN"] = param(name)
    for key, value in params.items():
        cal_address.params[key.replace("_", "-").upper()] = param(value)
    return cal_address


def organizer(mailbox: str) -> vCalAddress:
    """ORGANIZER from a mailbox such as ``ClusterXchange <no-reply@clusterxchange.eu>``: the programme's
    sending address, never a person's."""
    name, email = parseaddr(mailbox)
    return address(email, name or None)


@lru_cache(maxsize=256)
def _vtimezone(tzid: str, first_year: int, last_year: int) -> bytes:
    return icalendar.Timezone.from_tzid(tzid, first_date=date(first_year, 1, 1),
                                        last_date=date(last_year, 12, 31)).to_ical()


def vtimezone(tz: ZoneInfo, starts: list[datetime]) -> icalendar.Timezone:
    """VTIMEZONE of ``tz`` from the zone database, covering whole calendar years around the meetings so
    every DST change between the first and the last one is described."""
    years = [s.astimezone(tz).year for s in starts]
    return icalendar.Timezone.from_ical(_vtimezone(tz.key, min(years), max(years)))


def calendar(method: str, product: str, events: list[icalendar.Event], zone: tzinfo = UTC) -> icalendar.Calendar:
    """A VCALENDAR with METHOD per RFC 5546 (PUBLISH for a feed, REQUEST/CANCEL for an invitation), the
    VTIMEZONE its events' TZID refers to ahead of them, and X-WR-TIMEZONE for the readers that take the
    display zone from it."""
    if method not in {"PUBLISH", "REQUEST", "CANCEL"}:
        raise ValueError(f"unsupported iTIP method {method!r}")
    cal = icalendar.Calendar()
    cal.add("PRODID", f"-//ClusterXchange//{product}//EN")
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("METHOD", method)
    if isinstance(zone, ZoneInfo):
        cal["X-WR-TIMEZONE"] = text(zone.key)
        if events and zone.key != "UTC":
            cal.add_component(vtimezone(zone, [e.decoded("DTSTART") for e in events]))
    for event in events:
        cal.add_component(event)
    return cal


def meeting_event(
    *, meeting_id: str, sequence: int, starts_at: datetime, ends_at: datetime, zone: tzinfo, summary: str,
    location: str | None, organizer: vCalAddress, stamp: datetime, attendees: tuple[vCalAddress, ...] = (),
    status: str = "CONFIRMED",
) -> icalendar.Event:
    """One VEVENT for one meeting: times as local times of ``zone`` (TZID), everything else sanitised."""
    event = icalendar.Event()
    event["UID"] = text(meeting_uid(meeting_id))
    event.add("DTSTAMP", stamp.astimezone(UTC))
    event.add("SEQUENCE", max(int(sequence or 0), 0))
    event.add("DTSTART", starts_at.astimezone(zone))
    event.add("DTEND", ends_at.astimezone(zone))
    event["SUMMARY"] = text(summary)
    if location:
        event["LOCATION"] = text(location)
    event.add("STATUS", status)
    event.add("TRANSP", "OPAQUE")
    event.add("ORGANIZER", organizer)
    for attendee in attendees:
        event.add("ATTENDEE", attendee)
    return event


def serialize(cal: icalendar.Calendar) -> str:
    """The calendar object as text: CRLF line ends, folded at 75 octets."""
    return cal.to_ical().decode()
