"""One meeting, one calendar entry: matchmaking's agenda feed and the invitation notifications attaches to
its mails describe a meeting with the same UID and SEQUENCE, the iTIP method each needs (RFC 5546), and
times in the activity's zone with a VTIMEZONE from the zone database. Read back with the icalendar library,
as a calendar client would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from services.matchmaking.domain import ical as agenda_ical
from services.notifications.domain.ics import meeting_ics
from services.notifications.domain.planning import email_plans
from shared import ical
from shared.events.catalogue import MeetingScheduled, MeetingUnscheduled

BERLIN = ZoneInfo("Europe/Berlin")
PROGRAMME = "ClusterXchange Programme <calendar@clusterxchange.eu>"
PEOPLE = {"activity_id": "act-1", "meeting_id": "6d3c1a52-0d8e-4c53-9d55-0b6f3f0c2a11",
          "requester_id": "p-anna", "target_id": "p-jonas"}
ACTIVITY = {"title": "Dresden mission", "meetings": {"timezone": "Europe/Berlin"}}
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def agenda_item(e: MeetingScheduled, participant_id: str) -> dict:
    """An agenda row as the matchmaking API hands it to the calendar (times in the activity's zone)."""
    return {
        "meeting_id": e.meeting_id, "requester_id": e.requester_id, "target_id": e.target_id,
        "with": e.target_id if e.requester_id == participant_id else e.requester_id,
        "starts_at": e.starts_at.astimezone(BERLIN).isoformat(), "ends_at": e.ends_at.astimezone(BERLIN).isoformat(),
        "table": e.table, "online": e.online, "schedule_version": e.schedule_version,
    }


def mailed_ics(context: dict, cancel: bool = False, timezone: str | None = "Europe/Berlin") -> str:
    """The invitation as the e-mail sender builds it from a planned mail's context."""
    return meeting_ics(
        meeting_id=context["meeting_id"], sequence=int(context.get("sequence") or 0), starts_at=context["starts"],
        ends_at=context["ends"], summary="ClusterXchange: Kaunas Labs (Dresden mission)", location="table 4",
        cancel=cancel, organizer=PROGRAMME, attendee="anna@example.org", attendee_name="Anna Schmidt",
        timezone=timezone,
    )


def scheduled(starts: datetime, version: int = 1) -> MeetingScheduled:
    return MeetingScheduled(**PEOPLE, schedule_version=version, starts_at=starts,
                            ends_at=starts + timedelta(minutes=30), table=4)


def parse(text: str) -> tuple[icalendar.Calendar, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(text)
    [event] = cal.walk("VEVENT")
    return cal, event


def test_the_agenda_and_the_mail_attachment_give_the_meeting_one_uid_and_sequence():
    e = scheduled(datetime(2026, 7, 1, 7, 0, tzinfo=UTC), version=3)
    [mail_to_anna, _] = email_plans("meeting.scheduled", e)
    _, in_agenda = parse(agenda_ical.calendar(ACTIVITY, [agenda_item(e, "p-anna")], "p-anna", now=NOW))
    _, in_mail = parse(mailed_ics(mail_to_anna.context))
    assert str(in_agenda["UID"]) == str(in_mail["UID"]) == ical.meeting_uid(e.meeting_id)
    assert ical.meeting_uid(e.meeting_id) == f"{e.meeting_id}@clusterxchange"
    assert int(in_agenda["SEQUENCE"]) == int(in_mail["SEQUENCE"]) == 3
    assert in_agenda.decoded("DTSTART") == in_mail.decoded("DTSTART") == e.starts_at
    assert in_agenda["DTSTART"].params["TZID"] == in_mail["DTSTART"].params["TZID"] == "Europe/Berlin"


def test_the_agenda_feed_is_published_by_the_programme_without_attendees():
    e = scheduled(datetime(2026, 7, 1, 7, 0, tzinfo=UTC))
    cal, event = parse(agenda_ical.calendar(ACTIVITY, [agenda_item(e, "p-anna")], "p-anna", now=NOW,
                                            organizer=PROGRAMME))
    assert str(cal["METHOD"]) == "PUBLISH"
    assert str(event["ORGANIZER"]) == "mailto:calendar@clusterxchange.eu"
    assert event["ORGANIZER"].params["CN"] == "ClusterXchange Programme"
    assert "ATTENDEE" not in event, "RFC 5546 PUBLISH carries no attendees; nobody's address is in a feed"


def test_the_invitation_is_a_request_to_the_recipient_only_and_the_unscheduling_cancels_it():
    e = scheduled(datetime(2026, 7, 1, 7, 0, tzinfo=UTC), version=1)
    [to_anna, _] = email_plans("meeting.scheduled", e)
    cal, request = parse(mailed_ics(to_anna.context))
    assert str(cal["METHOD"]) == "REQUEST" and str(request["STATUS"]) == "CONFIRMED"
    assert str(request["ORGANIZER"]) == "mailto:calendar@clusterxchange.eu"
    attendee = request["ATTENDEE"]
    assert not isinstance(attendee, list), "one attendee: the recipient of this mail"
    assert str(attendee) == "mailto:anna@example.org" and attendee.params["CN"] == "Anna Schmidt"
    assert attendee.params["RSVP"] == "FALSE" and attendee.params["ROLE"] == "REQ-PARTICIPANT"

    gone = MeetingUnscheduled(**PEOPLE, schedule_version=2, reason="participant unavailable")
    [cancel_to_anna, _] = email_plans("meeting.unscheduled", gone, {"starts_at": e.starts_at, "ends_at": e.ends_at})
    cal, cancel = parse(mailed_ics(cancel_to_anna.context, cancel=True))
    assert str(cal["METHOD"]) == "CANCEL" and str(cancel["STATUS"]) == "CANCELLED"
    assert str(cancel["UID"]) == str(request["UID"])
    assert int(cancel["SEQUENCE"]) > int(request["SEQUENCE"]), "the cancellation supersedes the invitation"
    assert str(cancel["ATTENDEE"]) == "mailto:anna@example.org"


def test_vtimezone_for_europe_berlin_describes_the_dst_change_between_two_meetings():
    """24 October 2026 is summer time (+02:00), 26 October winter time (+01:00): the VTIMEZONE alone, without
    the reader's zone database, must turn both local DTSTARTs back into the right instants."""
    before, after = datetime(2026, 10, 24, 7, 0, tzinfo=UTC), datetime(2026, 10, 26, 8, 0, tzinfo=UTC)
    items = [agenda_item(scheduled(before), "p-anna"),
             agenda_item(MeetingScheduled(**{**PEOPLE, "meeting_id": "m-2"}, schedule_version=1, starts_at=after,
                                          ends_at=after + timedelta(minutes=30)), "p-anna")]
    text = agenda_ical.calendar(ACTIVITY, items, "p-anna", now=NOW)
    cal = icalendar.Calendar.from_ical(text)
    assert cal.get_missing_tzids() == set()
    [vtimezone] = cal.timezones
    assert vtimezone.tz_name == "Europe/Berlin" and str(cal["X-WR-TIMEZONE"]) == "Europe/Berlin"
    offsets = {(o["TZOFFSETFROM"].td, o["TZOFFSETTO"].td) for o in vtimezone.standard + vtimezone.daylight}
    assert (timedelta(hours=2), timedelta(hours=1)) in offsets and (timedelta(hours=1), timedelta(hours=2)) in offsets
    assert "DTSTART;TZID=Europe/Berlin:20261024T090000" in text and "DTSTART;TZID=Europe/Berlin:20261026T090000" in text
    from_vtimezone = vtimezone.to_tz(lookup_tzid=False)
    local = [e.decoded("DTSTART").replace(tzinfo=None) for e in cal.walk("VEVENT")]
    assert [t.replace(tzinfo=from_vtimezone).astimezone(UTC) for t in local] == [before, after]


def test_an_invitation_without_a_known_zone_is_written_in_utc():
    e = scheduled(datetime(2026, 7, 1, 7, 0, tzinfo=UTC))
    [to_anna, _] = email_plans("meeting.scheduled", e)
    for zone in (None, "Mars/Olympus_Mons"):
        text = mailed_ics(to_anna.context, timezone=zone)
        cal, event = parse(text)
        assert "DTSTART:20260701T070000Z" in text and not cal.timezones
        assert event.decoded("DTSTART") == e.starts_at


@pytest.mark.parametrize("mailbox", ["", "no address here", "Name <>", "x <a b@c.eu>"])
def test_an_organizer_without_a_usable_address_is_refused(mailbox):
    with pytest.raises(ValueError):
        ical.organizer(mailbox)


def test_matchmaking_refuses_to_start_with_an_unusable_calendar_organizer(monkeypatch):
    from pydantic import ValidationError

    from services.matchmaking.settings import MatchmakingSettings

    monkeypatch.setenv("CXC_MATCHMAKING_CALENDAR_ORGANIZER", "the programme office")
    with pytest.raises(ValidationError, match="CALENDAR_ORGANIZER|calendar_organizer"):
        MatchmakingSettings()
    monkeypatch.setenv("CXC_MATCHMAKING_CALENDAR_ORGANIZER", PROGRAMME)
    assert MatchmakingSettings().calendar_organizer == PROGRAMME
