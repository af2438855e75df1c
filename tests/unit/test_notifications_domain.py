"""Notifications' pure parts: wording per language, escaping, calendar entries, signatures, planning."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.domain import retry, signing
from services.notifications.domain.i18n import LANGUAGES, MESSAGES
from services.notifications.domain.ics import meeting_ics
from services.notifications.domain.messages import MISSING, render
from services.notifications.domain.planning import email_plans, reminder_plans
from services.notifications.domain.unsubscribe import token, valid
from shared.events.catalogue import MeetingScheduled, MeetingUnscheduled, ParticipantRegistered, Profile

VALUES = {
    "name": "Ada", "organisation": "Score Digital", "counterpart": "Kaunas Labs", "activity": "Dresden mission",
    "starts": "2026-12-01T09:00:00+00:00", "expires": "2026-11-30T12:00:00+00:00", "lump_sum": 1850,
    "timezone": "Europe/Berlin", "table": 4, "count": 2, "pending": "Kaunas Labs, GAIA Robotics",
}


@pytest.mark.parametrize("template", sorted(MESSAGES))
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_template_renders_in_every_language_without_blanks(template, language):
    r = render(template, language, VALUES)
    assert r.language == language
    assert MISSING not in r.subject and MISSING not in r.text
    assert "{" not in r.text and "{" not in r.html
    assert "Ada" in r.text and "Ada" in r.html


@pytest.mark.parametrize("template", sorted(MESSAGES))
def test_subject_and_key_sentence_are_translated_for_every_language(template):
    english = MESSAGES[template]["en"]
    for language in LANGUAGES:
        assert language in MESSAGES[template], f"{template} has no {language} wording"
        if language != "en":
            assert MESSAGES[template][language][0] != english[0]
            assert MESSAGES[template][language][1] != english[1]


def test_unknown_language_falls_back_to_english():
    assert render("exchange_cancelled", "xx", VALUES).subject == "Your exchange has been cancelled"
    assert render("exchange_cancelled", "de-AT", VALUES).subject == "Ihr Austausch wurde abgesagt"


def test_meeting_times_are_shown_in_the_activity_timezone():
    r = render("meeting_reminder", "en", VALUES)
    assert "2026-12-01 10:00 (Europe/Berlin)" in r.subject


def test_html_escapes_what_the_values_bring_but_text_keeps_it_verbatim():
    r = render("meeting_requested", "en", {**VALUES, "counterpart": "<script>alert(1)</script>"})
    assert "<script>" not in r.html and "&lt;script&gt;" in r.html
    assert "<script>alert(1)</script>" in r.text


def test_lump_sum_appears_in_the_approval():
    r = render("exchange_approved", "pl", VALUES)
    assert "1850 EUR" in r.text and r.subject == "Twoja wymiana została zatwierdzona"


def test_unsubscribe_link_is_shown_only_when_given():
    assert "unsubscribe" not in render("feedback_request", "en", VALUES).text.lower()
    r = render("feedback_request", "fr", VALUES, unsubscribe_url="http://x/v1/unsubscribe/p?token=t")
    assert "http://x/v1/unsubscribe/p?token=t" in r.text and 'href="http://x/v1/unsubscribe/p?token=t"' in r.html


# No activity zone known: the invitation is written in UTC.
MAIL = {"organizer": "ClusterXchange <no-reply@clusterxchange.eu>", "attendee": "ada@example.org",
        "attendee_name": "Ada"}


def test_ics_request_and_cancel_share_the_uid_and_order_by_sequence():
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    req = meeting_ics(meeting_id="m1", sequence=2, starts_at=start, ends_at=start + timedelta(minutes=30),
                      summary="Meeting, with; Kaunas", location="table 4", **MAIL)
    cancel = meeting_ics(meeting_id="m1", sequence=3, starts_at=start, ends_at=start + timedelta(minutes=30),
                         summary="x", location=None, cancel=True, **MAIL)
    assert "METHOD:REQUEST" in req and "DTSTART:20261201T090000Z" in req and "UID:m1@clusterxchange" in req
    assert "SUMMARY:Meeting\\, with\\; Kaunas" in req and req.endswith("\r\n")
    assert "METHOD:CANCEL" in cancel and "STATUS:CANCELLED" in cancel and "SEQUENCE:3" in cancel
    assert "UID:m1@clusterxchange" in cancel


def test_long_ics_lines_are_folded_at_75_octets():
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    ics = meeting_ics(meeting_id="m", sequence=1, starts_at=start, ends_at=start, summary="Ž" * 100, location=None,
                      **MAIL)
    assert all(len(line.encode()) <= 75 for line in ics.split("\r\n"))
    assert ics.replace("\r\n ", "").count("Ž") == 100


def test_signature_matches_the_standard_webhooks_reference_vector():
    # The test vector published with the Standard Webhooks reference libraries.
    sig = signing.sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                       b'{"test": 2432232314}')
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_tampered_body_or_other_secret_does_not_verify():
    secret = signing.new_secret()
    h = signing.headers(secret, "d1", 1700000000, b'{"a":1}')
    at = {"now": 1700000000}
    assert signing.verify(secret, "d1", h["webhook-timestamp"], b'{"a":1}', h["webhook-signature"], **at)
    assert not signing.verify(secret, "d1", h["webhook-timestamp"], b'{"a":2}', h["webhook-signature"], **at)
    assert not signing.verify(signing.new_secret(), "d1", h["webhook-timestamp"], b'{"a":1}', h["webhook-signature"],
                              **at)


def test_a_plain_secret_is_used_as_its_bytes():
    import base64
    import hashlib
    import hmac

    expected = base64.b64encode(hmac.new(b"a-partner-chosen-secret", b"i.1.{}", hashlib.sha256).digest()).decode()
    assert signing.sign("a-partner-chosen-secret", "i", 1, b"{}") == "v1," + expected


def test_backoff_doubles_up_to_the_cap_with_jitter_and_gives_up_after_a_day():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    kw = {"first_planned": t0, "base_s": 10, "max_s": 3600, "give_up_after_s": 86_400, "rng": random.Random(5)}

    def waits(attempts: int) -> float:
        return (retry.next_attempt(attempts=attempts, now=t0, **kw) - t0).total_seconds()

    assert 5 <= waits(1) <= 10 and 20 <= waits(3) <= 40 and 1800 <= waits(20) <= 3600
    # deliveries failed by one outage spread out instead of retrying at the same instant
    assert len({waits(4) for _ in range(20)}) > 1
    assert retry.next_attempt(attempts=20, now=t0 + timedelta(hours=23, minutes=30), **kw) is None


def test_unsubscribe_tokens_are_bound_to_the_participant():
    assert valid("s" * 32, "p1", token("s" * 32, "p1"))
    assert not valid("s" * 32, "p2", token("s" * 32, "p1"))


def _scheduled(starts_at, version=1):
    return MeetingScheduled(meeting_id="m1", activity_id="a1", requester_id="r", target_id="t",
                            schedule_version=version, starts_at=starts_at, ends_at=starts_at + timedelta(minutes=30))


def test_a_scheduled_meeting_is_announced_to_both_sides_with_the_other_as_counterpart():
    plans = email_plans("meeting.scheduled", _scheduled(datetime(2026, 12, 1, 9, tzinfo=UTC)))
    assert {(p.recipient, p.context["counterpart_id"]) for p in plans} == {("r", "t"), ("t", "r")}
    assert all(p.template == "meeting_scheduled" for p in plans)


def test_unscheduling_repeats_the_last_known_slot_for_the_calendar_cancel():
    e = MeetingUnscheduled(meeting_id="m1", activity_id="a1", requester_id="r", target_id="t", schedule_version=2,
                           reason="moved out")
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    [p, _] = email_plans("meeting.unscheduled", e, {"starts_at": start, "ends_at": start, "table": 1})
    assert p.context["starts"] == start.isoformat() and p.context["sequence"] == 2


def test_reminders_are_planned_24h_and_15min_before_and_past_ones_are_skipped():
    now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    far = reminder_plans(_scheduled(now + timedelta(days=2)), now)
    assert sorted({p.due_at - now for p in far}) == [timedelta(days=1), timedelta(days=2) - timedelta(minutes=15)]
    assert len(far) == 4
    near = reminder_plans(_scheduled(now + timedelta(hours=1)), now)
    assert {p.context["reminder"] for p in near} == {"15m"} and len(near) == 2


def test_a_moved_meeting_gets_new_reminder_keys_and_the_same_time_the_same_keys():
    now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    a = {p.key for p in reminder_plans(_scheduled(now + timedelta(days=2)), now)}
    again = {p.key for p in reminder_plans(_scheduled(now + timedelta(days=2), version=2), now)}
    moved = {p.key for p in reminder_plans(_scheduled(now + timedelta(days=2, hours=1)), now)}
    assert a == again and not (a & moved)


def test_registration_confirmation_goes_to_the_participant_only_by_id():
    e = ParticipantRegistered(participant_id="p1", registered_at=datetime.now(UTC),
                              profile=Profile(cluster_id="gaia", kind="sme", name="X", country="ES"))
    [p] = email_plans("participant.registered", e)
    assert p.recipient == "p1" and p.template == "registration_confirmed" and "@" not in str(p.context)
