"""CR/LF payloads are inert in every calendar we produce (issue 13, point 8).

A partner controls activity titles and organisation names; both end up in TEXT properties of the
matchmaking agenda and of the notification e-mails' invitations. Each output is parsed twice — by a strict
reader written from RFC 5545 §3.1 here and by the ``icalendar`` library — and must hold exactly one VEVENT
per meeting with the hostile text intact as the property's value.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matchmaking.domain import ical as agenda_ical
from services.notifications.domain.ics import meeting_ics

INJECTION = "END:VEVENT{nl}BEGIN:VEVENT{nl}UID:evil{nl}SUMMARY:injected{nl}DTSTART:20260101T000000Z"
HOSTILE = [
    "Mission" + "\r" + INJECTION.format(nl="\r"),  # a lone CR: the case the old escaping missed
    "Mission" + "\n" + INJECTION.format(nl="\n"),
    "Mission" + "\r\n" + INJECTION.format(nl="\r\n"),
    "Mission\r\n BEGIN:VALARM",  # CRLF + space would be read as a fold and glue text to the line
    "Mission" + "\u2028" + INJECTION.format(nl="\u2029"),
    "Mission" + "\x85" + INJECTION.format(nl="\x0b"),
    "Mission; Dresden, 2026 \\n not a newline \\; \\,",
    "Mission\x00\x07\x1b[31m\x7f\tTabbed",
]


def expected_text(value: str) -> str:
    """What a reader must get back: line breaks as LF, other controls gone, everything else intact."""
    value = re.sub("\r\n|[\r\n\x85\u2028\u2029]", "\n", value)
    return re.sub("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]", "", value)


def strict_parse(data: str) -> list[dict]:
    """The VEVENTs of a calendar, read strictly: CRLF line ends only, no physical line over 75 octets,
    folds are CRLF + one space or tab, components nest properly."""
    assert data.endswith("\r\n")
    physical = data[:-2].split("\r\n")
    for raw in physical:
        assert "\r" not in raw and "\n" not in raw, f"bare line break in {raw!r}"
        assert len(raw.encode()) <= 75, f"line of {len(raw.encode())} octets: {raw!r}"
        assert not re.search("[\x00-\x08\x0a-\x1f\x7f]", raw), f"control character in {raw!r}"
    logical: list[str] = []
    for raw in physical:
        if raw[:1] in (" ", "\t"):
            logical[-1] += raw[1:]
        else:
            logical.append(raw)
    stack, events = [], []
    for content in logical:
        name, value = _split(content)
        if name == "BEGIN":
            stack.append(value)
            if value == "VEVENT":
                events.append({})
        elif name == "END":
            assert stack and stack.pop() == value, f"unbalanced END:{value}"
        elif stack and stack[-1] == "VEVENT":
            assert name not in events[-1], f"{name} twice in one VEVENT"
            events[-1][name] = value
    assert not stack
    return events


def _split(content: str) -> tuple[str, str]:
    """Property name and raw value; a colon inside a quoted parameter value does not end the name part."""
    in_quotes = False
    for i, c in enumerate(content):
        if c == '"':
            in_quotes = not in_quotes
        elif c == ":" and not in_quotes:
            return content[:i].split(";", 1)[0].upper(), content[i + 1:]
    raise AssertionError(f"no value in {content!r}")


def unescape(value: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def agenda(title: str, other: str = "b") -> str:
    activity = {"title": title, "meetings": {"timezone": "Europe/Berlin"}}
    items = [{
        "meeting_id": "m1", "requester_id": "a", "target_id": other, "with": other,
        "starts_at": "2026-07-01T09:00:00+02:00", "ends_at": "2026-07-01T09:30:00+02:00",
        "table": 3, "online": False, "schedule_version": 2,
    }]
    return agenda_ical.calendar(activity, items, "a", now=datetime(2026, 6, 1, tzinfo=UTC))


def invitation(summary: str, location: str | None = "table 4", meeting_id: str = "m1", name: str = "Ann") -> str:
    start = datetime(2026, 7, 1, 9, tzinfo=UTC)
    return meeting_ics(meeting_id=meeting_id, sequence=1, starts_at=start, ends_at=start + timedelta(minutes=30),
                       summary=summary, location=location, organizer="ClusterXchange <no-reply@clusterxchange.eu>",
                       attendee="ann@example.org", attendee_name=name, timezone="Europe/Berlin")


def library_events(data: str) -> list:
    return list(icalendar.Calendar.from_ical(data).walk("VEVENT"))


@pytest.mark.parametrize("title", HOSTILE)
def test_hostile_activity_title_yields_one_agenda_event_with_the_title_intact(title):
    data = agenda(title)
    [event] = strict_parse(data)
    assert unescape(event["SUMMARY"]) == expected_text(f"{title} — B2B meeting with b")
    assert event["UID"] == "m1@clusterxchange"
    [lib] = library_events(data)
    assert str(lib["SUMMARY"]) == expected_text(f"{title} — B2B meeting with b")
    assert str(lib["UID"]) == "m1@clusterxchange"


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_organisation_name_yields_one_invitation_with_the_name_intact(name):
    data = invitation(f"ClusterXchange: {name}", location=name, meeting_id=f"m1{name}")
    [event] = strict_parse(data)
    assert unescape(event["SUMMARY"]) == expected_text(f"ClusterXchange: {name}")
    assert unescape(event["LOCATION"]) == expected_text(name)
    assert unescape(event["UID"]) == expected_text(f"m1{name}@clusterxchange")
    [lib] = library_events(data)
    assert str(lib["SUMMARY"]) == expected_text(f"ClusterXchange: {name}")
    assert str(lib["LOCATION"]) == expected_text(name)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_any_text_stays_inside_its_property(text):
    for data, summary in ((agenda(text), f"{text} — B2B meeting with b"), (invitation(text), text)):
        [event] = strict_parse(data)
        assert unescape(event["SUMMARY"]) == expected_text(summary)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_recipient_name_stays_inside_the_attendee_parameter(name):
    """The recipient's name becomes the ATTENDEE's CN parameter: no line break, control or quote of it
    may end the parameter or the line."""
    data = invitation("Meeting", name=name + '"\r\nBEGIN:VEVENT;X=1:')
    [event] = strict_parse(data)
    assert event["ATTENDEE"] == "mailto:ann@example.org"
    [lib] = library_events(data)
    cn = lib["ATTENDEE"].params["CN"]
    assert not re.search("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]", cn)
    assert cn.startswith("Mission") and cn.endswith("BEGIN:VEVENT;X=1:")


@pytest.mark.parametrize("char", ["é", "Ž", "€", "日", "🙂"])
@pytest.mark.parametrize("offset", range(4))
def test_folding_at_75_octets_never_splits_a_utf8_character(char, offset):
    summary = "x" * offset + char * 60
    data = invitation(summary)
    physical = data[:-2].split("\r\n")
    assert all(len(p.encode()) <= 75 for p in physical)
    [event] = strict_parse(data)
    assert event["SUMMARY"] == summary  # every piece decodes; nothing lost
    assert any(p.startswith(" ") for p in physical)


def test_text_escaping_follows_rfc5545():
    [event] = strict_parse(invitation("a\\b;c,d\r\ne\rf\ng"))
    assert event["SUMMARY"] == "a\\\\b\\;c\\,d\\ne\\nf\\ng"
    [event] = strict_parse(invitation("tab\tstays, bell\x07 goes"))
    assert event["SUMMARY"] == "tab\tstays\\, bell goes"


def test_a_typed_backslash_n_stays_text():
    """The library reads ``\\N`` in a value as a line break; a partner's ``C:\\New`` must not become two lines."""
    data = invitation("C:\\New folder")
    [event] = strict_parse(data)
    assert unescape(event["SUMMARY"]) == "C:\\New folder"
    [lib] = library_events(data)
    assert str(lib["SUMMARY"]) == "C:\\New folder"
