"""The demo programme is the one the brief describes, and every request in it passes registration's rules."""

from __future__ import annotations

from collections import Counter
from datetime import date

from services.registration.domain import rules
from services.registration.domain.model import ActivityIn, CompletionIn, ExchangeIn, ParticipantIn
from services.reporting.entrypoints.demo import CLUSTERS, PROGRAMME_START, expected, generate


def test_the_demo_is_six_clusters_300_participants_98_exchanges_71_smes_5_study_visits():
    p = generate()
    assert expected(p) == {"participants": 300, "exchanges": 98, "smes": 71, "study_visits": 5,
                           "closing_reports": expected(p)["closing_reports"]}
    assert 80 <= expected(p)["closing_reports"] < 98
    assert set(Counter(x["cluster"] for x in p.participants)) == set(CLUSTERS)
    assert {"mission", "matchmaking_event"} <= {a["kind"] for a in p.activities}
    assert Counter(x["fate"] for x in p.exchanges)["cancelled"] > 0


def test_counted_exchanges_meet_the_programme_targets_over_time():
    p = generate()
    starts = sorted(date.fromisoformat(x["body"]["start_date"]) for x in p.exchanges if x["fate"] == "counted")

    def by_month(n: int) -> int:
        year, month = divmod(PROGRAMME_START.month - 1 + n, 12)
        end = date(PROGRAMME_START.year + year, month + 1, 1)
        return sum(s < end for s in starts)

    assert by_month(12) >= 38 and by_month(18) >= 60 and by_month(24) == 98


def test_every_demo_request_is_valid_for_registration():
    p = generate()
    for x in p.participants:
        ParticipantIn.model_validate(x["body"])
    for a in p.activities:
        ActivityIn.model_validate(a["body"])
    home = {x["ref"]: x["cluster"] for x in p.participants}
    assert len({x["participant"] for x in p.exchanges}) == len(p.exchanges), "one exchange per participant"
    fake_id = "00000000-0000-0000-0000-000000000001"
    for x in p.exchanges:
        body = dict(x["body"], participant_id=fake_id)
        if "activity_id" in body:
            body["activity_id"] = fake_id
        e = ExchangeIn.model_validate(body)
        rules.check_exchange_period(e.start_date, e.end_date)
        assert e.host_cluster_id != home[x["participant"]]
        if x["completion"]:
            assert date.fromisoformat(x["completion"]["completed_on"]) >= e.start_date
            CompletionIn.model_validate(x["completion"])


def test_the_demo_is_the_same_every_time_so_reruns_are_idempotent():
    assert generate() == generate()


def test_meeting_requests_pair_joined_participants_of_different_clusters_once():
    p = generate()
    home = {x["ref"]: x["cluster"] for x in p.participants}
    joined = {a["ref"]: set(a["joiners"]) for a in p.activities}
    pairs = [(m["activity"], frozenset((m["requester"], m["target"]))) for m in p.meetings]
    assert len(pairs) == len(set(pairs)) >= 60
    for m in p.meetings:
        assert {m["requester"], m["target"]} <= joined[m["activity"]]
        assert home[m["requester"]] != home[m["target"]]
        assert not m["ratings"] or m["answer"] == "accept", "only accepted (then scheduled) meetings are rated"
