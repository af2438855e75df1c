from datetime import UTC, date, datetime

import pytest

from services.registration.domain import geo, rules
from services.registration.domain.model import (
    ActivityIn,
    JoinIn,
    ParticipantPatch,
    changed_fields,
    decode_cursor,
    encode_cursor,
)
from services.registration.settings import DEFAULT_LUMP_SUM_CAPS_EUR

CAPS = {"DE": 2200, "PL": 1700}


# --- working days and the exchange period ---------------------------------------------------------


@pytest.mark.parametrize(
    "start, end, expected",
    [
        (date(2026, 3, 2), date(2026, 3, 6), 5),  # Mon..Fri
        (date(2026, 3, 6), date(2026, 3, 9), 2),  # Fri..Mon
        (date(2026, 3, 7), date(2026, 3, 8), 0),  # a weekend
        (date(2026, 3, 2), date(2026, 3, 31), 22),
        (date(2026, 3, 2), date(2026, 3, 1), 0),
    ],
)
def test_working_days_count_monday_to_friday_inclusive(start, end, expected):
    assert rules.working_days(start, end) == expected


def test_an_exchange_of_three_working_days_is_valid():
    assert rules.check_exchange_period(date(2026, 3, 2), date(2026, 3, 4)) == 3


def test_an_exchange_shorter_than_three_working_days_is_refused():
    with pytest.raises(rules.RuleViolation) as exc:
        rules.check_exchange_period(date(2026, 3, 6), date(2026, 3, 9))
    assert exc.value.field == "end_date"


def test_an_exchange_longer_than_one_month_is_refused():
    assert rules.check_exchange_period(date(2026, 3, 2), date(2026, 4, 2)) == 24
    with pytest.raises(rules.RuleViolation, match="at most one month"):
        rules.check_exchange_period(date(2026, 3, 2), date(2026, 4, 3))


def test_an_exchange_ending_before_it_starts_is_refused():
    with pytest.raises(rules.RuleViolation, match="before"):
        rules.check_exchange_period(date(2026, 3, 5), date(2026, 3, 4))


def test_one_month_after_clamps_to_the_end_of_a_short_month():
    assert rules.one_month_after(date(2026, 1, 31)) == date(2026, 2, 28)
    assert rules.one_month_after(date(2026, 12, 15)) == date(2027, 1, 15)


# --- lump sum -------------------------------------------------------------------------------------


def test_a_long_distant_stay_gets_the_host_countrys_full_cap():
    lump = rules.lump_sum("DE", 10, 520.0, CAPS, 1500)
    assert (lump.eur, lump.halved, lump.reasons) == (2200, False, ())


def test_a_stay_under_five_working_days_gets_half():
    lump = rules.lump_sum("DE", 4, 520.0, CAPS, 1500)
    assert lump.eur == 1100 and lump.halved and "working days" in lump.reasons[0]


def test_a_stay_under_200_km_gets_half():
    assert rules.lump_sum("PL", 10, 199.9, CAPS, 1500).eur == 850


def test_short_and_near_is_halved_once_not_twice():
    lump = rules.lump_sum("PL", 3, 50.0, CAPS, 1500)
    assert lump.eur == 850 and len(lump.reasons) == 2


def test_unknown_host_country_uses_the_default_cap_and_unknown_distance_does_not_halve():
    assert rules.lump_sum("JP", 10, None, CAPS, 1500).eur == 1500


def test_every_partner_country_has_a_cap():
    assert {"DE", "FR", "PL", "LT", "BG", "ES"} <= DEFAULT_LUMP_SUM_CAPS_EUR.keys()


# --- geography ------------------------------------------------------------------------------------


def test_dresden_to_warsaw_is_about_520_km():
    assert geo.distance_km("Dresden", "DE", "Warsaw", "PL") == pytest.approx(517, abs=10)


def test_city_names_are_matched_without_accents_or_case():
    assert geo.locate("San Sebastián", "ES") == geo.locate("san sebastian", "ES")


def test_an_unknown_city_falls_back_to_the_capital():
    assert geo.locate("Nowhere-on-Sea", "LT") == geo.locate("Vilnius", "LT")
    assert geo.locate(None, "BG") == geo.locate("Sofia", "BG")
    assert geo.locate("Somewhere", "JP") is None


def test_distance_is_symmetric_and_zero_for_the_same_city():
    a = geo.distance_km("Sofia", "BG", "Vilnius", "LT")
    assert a == pytest.approx(geo.distance_km("Vilnius", "LT", "Sofia", "BG"))
    assert geo.distance_km("Sofia", "BG", "Sofia", "BG") == 0


def test_every_capital_and_partner_city_has_coordinates():
    for country, capital in geo.CAPITALS.items():
        assert (capital, country) in geo.CITIES
    for city, country in [("Dresden", "DE"), ("Sophia Antipolis", "FR"), ("Warsaw", "PL"), ("Vilnius", "LT"),
                          ("Sofia", "BG"), ("San Sebastián", "ES")]:
        assert (geo.normalise(city), country) in geo.CITIES


# --- participant patch ----------------------------------------------------------------------------


def test_patch_cannot_clear_a_required_field():
    with pytest.raises(ValueError, match="name"):
        ParticipantPatch.model_validate({"name": None})


def test_patch_may_clear_an_optional_field():
    assert ParticipantPatch.model_validate({"city": None}).changes() == {"city": None}


def test_patch_maps_consent_to_the_marketing_flag():
    assert ParticipantPatch.model_validate({"consent": {"marketing": True}}).changes() == {"marketing_consent": True}


def test_changed_fields_names_only_real_differences():
    before = {"name": "A", "city": "Dresden", "sectors": ["J62"], "marketing_consent": False}
    assert changed_fields(before, {"name": "A", "city": "Leipzig", "sectors": ["J62"]}) == ["city"]


def test_patch_rejects_unknown_fields():
    with pytest.raises(ValueError):
        ParticipantPatch.model_validate({"cluster_id": "gaia"})


# --- activities -----------------------------------------------------------------------------------

ACTIVITY = {"kind": "matchmaking_event", "title": "B2B days", "host_cluster_id": "gaia", "country": "ES",
            "starts_on": "2026-05-04", "ends_on": "2026-05-05",
            "meetings": {"day_start": "09:00", "day_end": "17:00", "slot_minutes": 30, "tables": 10,
                         "timezone": "Europe/Madrid"}}


def test_activity_with_meeting_settings_is_valid():
    assert ActivityIn.model_validate(ACTIVITY).meetings.tables == 10


@pytest.mark.parametrize(
    "meetings",
    [
        {"timezone": "Mars/Olympus"},
        {"day_start": "17:00", "day_end": "09:00"},
        {"day_start": "9am"},
        {"slot_minutes": 0},
        {"tables": 0},
    ],
)
def test_bad_meeting_settings_are_refused(meetings):
    with pytest.raises(ValueError):
        ActivityIn.model_validate({**ACTIVITY, "meetings": {**ACTIVITY["meetings"], **meetings}})


def test_activity_ending_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="ends_on"):
        ActivityIn.model_validate({**ACTIVITY, "ends_on": "2026-05-01"})


def test_unavailable_periods_must_be_ordered_and_carry_a_time_zone():
    pid = "7b0c6f2e-4a47-4f5e-9a53-3d2f0c9b1e11"
    ok = JoinIn.model_validate({"participant_id": pid, "unavailable": [["2026-05-04T09:00:00+02:00", "2026-05-04T11:00:00+02:00"]]})
    assert len(ok.unavailable) == 1
    with pytest.raises(ValueError):
        JoinIn.model_validate({"participant_id": pid, "unavailable": [["2026-05-04T11:00:00+02:00", "2026-05-04T09:00:00+02:00"]]})
    with pytest.raises(ValueError):
        JoinIn.model_validate({"participant_id": pid, "unavailable": [["2026-05-04T09:00:00", "2026-05-04T11:00:00"]]})


# --- cursors --------------------------------------------------------------------------------------


def test_cursor_round_trips():
    import uuid

    stamp, pid = datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(stamp, pid)) == (stamp, pid)


@pytest.mark.parametrize("cursor", ["", "abc", "bm90IGEgY3Vyc29y", "MjAyNi0wMy0wMnx4"])
def test_a_forged_cursor_is_a_value_error(cursor):
    with pytest.raises(ValueError):
        decode_cursor(cursor)
