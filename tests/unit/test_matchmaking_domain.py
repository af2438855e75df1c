"""Matchmaking's pure parts: the slot grid, suggestions, iCalendar agendas."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.matchmaking.domain import ical, slots
from services.matchmaking.domain.suggestions import Candidate, Need, nace_levels, nace_similarity, suggest


def test_slot_grid_follows_local_wall_clock_in_the_activity_timezone():
    grid = slots.grid(date(2026, 3, 28), date(2026, 3, 29), "09:00", "10:00", 30, "Europe/Berlin")
    assert [(s.day, s.starts_at.strftime("%H:%M")) for s in grid] == [(0, "09:00"), (0, "09:30"), (1, "09:00"), (1, "09:30")]
    # Summer time starts on 29 March: the same local time is one hour earlier in UTC.
    assert grid[0].starts_at.astimezone(UTC).hour == 8 and grid[2].starts_at.astimezone(UTC).hour == 7


def test_unavailable_period_blocks_every_overlapping_slot_and_naive_times_are_local():
    grid = slots.grid(date(2026, 6, 1), date(2026, 6, 1), "09:00", "12:00", 60, "Europe/Warsaw")
    aware = [(datetime(2026, 6, 1, 7, 30, tzinfo=UTC), datetime(2026, 6, 1, 8, 0, tzinfo=UTC))]  # 09:30-10:00 local
    assert slots.unavailable_slots(grid, aware, "Europe/Warsaw") == {0}
    naive = [(datetime(2026, 6, 1, 10, 0), datetime(2026, 6, 1, 12, 0))]
    assert slots.unavailable_slots(grid, naive, "Europe/Warsaw") == {1, 2}


def test_nace_hierarchy_levels_and_similarity():
    assert nace_levels("J62.01") == ("J", "J62", "J62.0", "J62.01")
    assert nace_levels("C26") == ("C", "C26")
    assert nace_similarity(["J62.01"], ["J62.01"])[0] == 1.0
    assert nace_similarity(["J62.01"], ["J62.09"]) == (0.75, "group J62.0")
    assert nace_similarity(["J62.01"], ["J63"])[0] == 0.25
    assert nace_similarity(["J62.01"], ["C26"])[0] == 0.0


def _c(pid, cluster="a", country="DE", name=None, **kw):
    return Candidate(pid, cluster, name or f"Org {pid}", country, **kw)


def test_suggestions_are_reciprocal_ranked_and_explained():
    me = _c("me", sectors=("J62.01",), keywords=("smart mobility",),
            offers=(Need("technology", "V2X communication platform"),), requests=(Need("partnership", "automotive OEM pilots"),))
    both_ways = _c("oem", cluster="b", country="PL", sectors=("C29.10",), keywords=("mobility", "automotive"),
                   offers=(Need("partnership", "pilot projects for automotive suppliers"),),
                   requests=(Need("technology", "V2X platform"),))
    one_way = _c("buyer", cluster="c", country="DE", requests=(Need("technology", "V2X platform"),))
    ranked = suggest(me, [me, both_ways, one_way])
    assert [s.participant_id for s in ranked] == ["oem", "buyer"]
    assert ranked[1].score < ranked[0].score / 2, "buyer answers none of my requests: the harmonic mean punishes it"
    assert not any(r.startswith("they offer") for r in ranked[1].reasons)
    reasons = " | ".join(ranked[0].reasons)
    assert "they offer partnership that you request" in reasons
    assert "you offer technology that they request" in reasons
    assert "cross-border: DE ↔ PL" in reasons


def test_cross_border_and_sector_similarity_raise_the_score():
    base = dict(offers=(Need("service", "cloud hosting"),), requests=(Need("service", "cloud hosting"),))
    me = _c("me", sectors=("J62.01",), **base)
    near_abroad = _c("x", cluster="b", country="FR", sectors=("J62.02",), **base)
    near_home = _c("y", cluster="c", country="DE", sectors=("J62.02",), **base)
    far_home = _c("z", cluster="d", country="DE", sectors=("A01",), **base)
    ranked = [s.participant_id for s in suggest(me, [near_abroad, near_home, far_home])]
    assert ranked == ["x", "y", "z"]


def test_hard_filters_exclude_same_organisation_same_cluster_on_transnational_and_declined():
    need = dict(offers=(Need("service", "testing"),), requests=(Need("service", "testing"),))
    me = _c("me", cluster="home", name="Score Digital", **need)
    pool = [
        _c("twin", cluster="other", name=" score digital ", **need),
        _c("colleague", cluster="home", **need),
        _c("declined", cluster="other2", **need),
        _c("ok", cluster="other3", **need),
    ]
    assert [s.participant_id for s in suggest(me, pool, transnational=True, declined={"declined"})] == ["ok"]
    assert {s.participant_id for s in suggest(me, pool, transnational=False, declined=())} == {"colleague", "declined", "ok"}


def test_keyword_similarity_uses_rare_words():
    me = _c("me", keywords=("hydrogen electrolysis",), offers=(Need("research", "x"),), requests=(Need("research", "y"),))
    rare = _c("rare", cluster="b", keywords=("hydrogen",), offers=(Need("research", "x"),), requests=(Need("research", "y"),))
    none = _c("none", cluster="c", keywords=("textiles",), offers=(Need("research", "x"),), requests=(Need("research", "y"),))
    ranked = suggest(me, [rare, none])
    assert ranked[0].participant_id == "rare"
    assert any("hydrogen" in r for r in ranked[0].reasons)


def test_icalendar_agenda_uses_the_activity_timezone_and_escapes_text():
    activity = {"title": "Mission; Dresden, 2026", "meetings": {"timezone": "Europe/Berlin"}}
    items = [{
        "meeting_id": "m1", "requester_id": "a", "target_id": "b", "with": "b",
        "starts_at": "2026-07-01T09:00:00+02:00", "ends_at": "2026-07-01T09:30:00+02:00",
        "table": 3, "online": False, "schedule_version": 2,
    }]
    text = ical.calendar(activity, items, "a", now=datetime(2026, 6, 1, tzinfo=UTC))
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "DTSTART;TZID=Europe/Berlin:20260701T090000\r\n" in text
    assert "TZID:Europe/Berlin" in text and "TZOFFSETTO:+0200" in text
    assert "Mission\\; Dresden\\, 2026" in text.replace("\r\n ", "")
    assert "LOCATION:table 3" in text and "SEQUENCE:2" in text
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
