"""A generated programme history with known truth, for the reporting tests.

The truth is counted here, straight from the generator's own records, without the reporting code: the
tests then check that the projection (in memory, through the broker, after a rebuild) reaches exactly
these numbers from a delivery that is shuffled across and within topics, repeats events and erases
participants.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from shared.events.catalogue import (
    ActivityCreated, ActivityUpdated, EventData, ExchangeApplied, ExchangeApproved, ExchangeCancelled,
    ExchangeCompleted, MeetingAccepted, MeetingDeclined, MeetingExpired, MeetingHeld, MeetingRated,
    MeetingRequested, MeetingScheduled, MeetingUnscheduled, ParticipantErased, ParticipantRegistered,
    ParticipantUpdated, Profile,
)
from shared.events.envelope import Envelope, new_envelope

CLUSTERS = {"silicon-saxony": "DE", "pole-scs": "FR", "mazovia-ict": "PL", "business-hive-vilnius": "LT",
            "cdti-sofia": "BG", "gaia": "ES"}
START = datetime(2025, 1, 6, 9, tzinfo=UTC)


@dataclass
class History:
    envelopes: list[Envelope] = field(default_factory=list)  # the log, in causal order, no repeats
    delivery: list[Envelope] = field(default_factory=list)  # shuffled, with duplicates
    truth: dict = field(default_factory=dict)
    truth_gaia: dict = field(default_factory=dict)

    def emit(self, payload: EventData, at: datetime) -> None:
        self.envelopes.append(new_envelope(payload, source="/test/history", time=at))


def _sorted(counter: Counter) -> dict:
    return {k: v for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))}


def generate(seed: int = 7, participants: int = 48, exchanges: int = 24, meetings: int = 18) -> History:
    rnd = random.Random(seed)
    h = History()
    clusters = list(CLUSTERS)

    # participants: registered, some updated (kind/country change), some erased (counts stay)
    people = {}
    for i in range(participants):
        pid = str(uuid.UUID(int=rnd.getrandbits(128)))
        cluster = clusters[i % len(clusters)]
        kind = rnd.choice(["sme", "sme", "sme", "cluster_staff", "research", "large_enterprise"])
        country = CLUSTERS[cluster] if i % 5 else rnd.choice(["IT", "NL", "DE"])
        at = START + timedelta(days=3 * i, minutes=i)
        h.emit(ParticipantRegistered(participant_id=pid, registered_at=at, profile=Profile(
            cluster_id=cluster, kind=kind, name=f"Org {i}", country=country)), at)
        people[pid] = {"cluster": cluster, "kind": kind, "country": country, "day": at.date()}
    pids = list(people)
    for pid in pids[exchanges:][::3]:  # a change of kind and country: the latest profile wins
        p = people[pid]
        p.update(kind="public_body", country="AT")
        at = datetime.combine(p["day"], datetime.min.time(), UTC) + timedelta(days=40, hours=10)
        h.emit(ParticipantUpdated(participant_id=pid, changed=("kind", "country"), profile=Profile(
            cluster_id=p["cluster"], kind="public_body", name="Org", country="AT")), at)
    for pid in pids[::7]:
        at = datetime.combine(people[pid]["day"], datetime.min.time(), UTC) + timedelta(days=90)
        h.emit(ParticipantErased(participant_id=pid, cluster_id=people[pid]["cluster"], erased_at=at), at)

    # activities; one moves its dates (the update wins over creation)
    activity_kinds = ["mission", "study_visit", "study_visit", "matchmaking_event", "learning_tandem"]
    acts = []
    for i, kind in enumerate(activity_kinds):
        aid = str(uuid.UUID(int=rnd.getrandbits(128)))
        host = clusters[(i * 2) % len(clusters)]
        starts = date(2025, 2 + 2 * i, 10)
        h.emit(ActivityCreated(activity_id=aid, kind=kind, title=f"A{i}", host_cluster_id=host, country=CLUSTERS[host],
                               starts_on=starts, ends_on=starts + timedelta(days=2)), START + timedelta(days=i))
        if i == 4:
            starts = date(2026, 1, 12)
            h.emit(ActivityUpdated(activity_id=aid, title=f"A{i}", starts_on=starts, ends_on=starts + timedelta(days=2),
                                   online=False), START + timedelta(days=30))
        acts.append({"id": aid, "kind": kind, "host": host, "country": CLUSTERS[host], "starts": starts})

    # exchanges: applied → approved (most) → cancelled (some) / completed (some)
    xs = []
    for i, pid in enumerate(pids[:exchanges]):
        p = people[pid]
        xid = str(uuid.UUID(int=rnd.getrandbits(128)))
        host = rnd.choice([c for c in clusters if c != p["cluster"]])
        kind = {"sme": "sme_exchange", "cluster_staff": "staff_exchange"}.get(p["kind"], "learning_tandem")
        start = date(2025, 1, 1) + timedelta(days=25 * i + 20)
        applied_at = datetime.combine(start, datetime.min.time(), UTC) - timedelta(days=15)
        h.emit(ExchangeApplied(exchange_id=xid, participant_id=pid, participant_kind=p["kind"], sending_cluster_id=p["cluster"],
                               host_cluster_id=host, kind=kind, start_date=start, end_date=start + timedelta(days=6),
                               working_days=5), applied_at)
        x = {"id": xid, "kind": kind, "pkind": p["kind"], "sending": p["cluster"], "host": host, "start": start,
             "status": "applied", "lump": 0}
        if i % 7 != 6:
            x["lump"] = 1000 + 100 * (i % 4)
            x["status"] = "approved"
            h.emit(ExchangeApproved(exchange_id=xid, participant_id=pid, sending_cluster_id=p["cluster"], host_cluster_id=host,
                                    lump_sum_eur=x["lump"], approved_at=applied_at + timedelta(days=2)),
                   applied_at + timedelta(days=2))
        if i % 8 == 3 or i == 5:
            x["status"] = "cancelled"
            h.emit(ExchangeCancelled(exchange_id=xid, participant_id=pid, sending_cluster_id=p["cluster"], reason="ill",
                                     host_cluster_id=host, previous_status="approved" if x["lump"] else "applied"),
                   applied_at + timedelta(days=4))
        elif x["status"] == "approved" and i % 3 == 0:
            x["status"] = "completed"
            x["satisfaction"] = 3 + (i // 3) % 3
            x["outcomes"] = ["knowledge_transfer"] + (["joint_project"] if i % 2 else [])
            x["completed_on"] = start + timedelta(days=6)
            h.emit(ExchangeCompleted(exchange_id=xid, participant_id=pid, sending_cluster_id=p["cluster"],
                                     completed_on=x["completed_on"], working_days=5, meetings_held=2 + i % 4,
                                     satisfaction=x["satisfaction"], outcomes=tuple(x["outcomes"]),
                                     host_cluster_id=host, lump_sum_eur=x["lump"]),
                   datetime.combine(x["completed_on"], datetime.min.time(), UTC) + timedelta(hours=18))
        xs.append(x)

    # meetings at the matchmaking event: requested → accepted/declined/expired → scheduled → held
    event = acts[3]
    ms = []
    base = START + timedelta(days=60)
    for i in range(meetings):
        a, b = rnd.sample(pids, 2)
        mid = str(uuid.UUID(int=rnd.getrandbits(128)))
        ids = dict(meeting_id=mid, activity_id=event["id"], requester_id=a, target_id=b)
        at = base + timedelta(hours=i)
        h.emit(MeetingRequested(**ids, expires_at=at + timedelta(days=3)), at)
        m = {"clusters": {people[a]["cluster"], people[b]["cluster"]}, "accepted": False, "declined": False,
             "scheduled": False, "held": False}
        outcome = ["accept", "accept", "accept", "decline", "expire"][i % 5]
        if outcome == "accept":
            m["accepted"] = True
            h.emit(MeetingAccepted(**ids), at + timedelta(hours=5))
            h.emit(MeetingScheduled(**ids, schedule_version=1, starts_at=at + timedelta(days=10),
                                    ends_at=at + timedelta(days=10, minutes=20)), at + timedelta(days=1))
            m["scheduled"] = True
            if i % 4 == 0:  # a second scheduling round drops this one
                h.emit(MeetingUnscheduled(**ids, schedule_version=2, reason="conflict"), at + timedelta(days=2))
                m["scheduled"] = False
            elif i % 2 == 0:
                h.emit(MeetingHeld(**ids), at + timedelta(days=10, hours=1))
                h.emit(MeetingRated(**ids, rated_by=a, rating="cooperation_possible"), at + timedelta(days=11))
                m["held"] = True
        elif outcome == "decline":
            m["declined"] = True
            h.emit(MeetingDeclined(**ids), at + timedelta(hours=3))
        else:
            h.emit(MeetingExpired(**ids), at + timedelta(days=3))
        ms.append(m)

    h.truth = _truth(people, acts, xs, ms, len(h.envelopes), max(e.time for e in h.envelopes), None)
    h.truth_gaia = _truth(people, acts, xs, ms, len(h.envelopes), max(e.time for e in h.envelopes), "gaia")

    repeats = rnd.sample(h.envelopes, len(h.envelopes) // 6)
    h.delivery = h.envelopes + repeats
    rnd.shuffle(h.delivery)
    return h


def _truth(people, acts, xs, ms, n_events, last, cluster) -> dict:
    def mine(c):
        return cluster is None or c == cluster

    ps = [p for p in people.values() if mine(p["cluster"])]
    counted = [x for x in xs if x["status"] in ("approved", "completed") and mine(x["sending"])]
    known = [x for x in xs if mine(x["sending"])]
    closed = [x for x in counted if x["status"] == "completed"]
    activities = [a for a in acts if mine(a["host"])]
    meetings = [m for m in ms if cluster is None or cluster in m["clusters"]]
    scores = [x["satisfaction"] for x in closed]
    accepted = sum(m["accepted"] for m in meetings)
    return {
        "exchanges": {
            "total": len(counted),
            "smes": sum(x["pkind"] == "sme" for x in counted),
            "cluster_staff": sum(x["pkind"] == "cluster_staff" for x in counted),
            "by_kind": _sorted(Counter(x["kind"] for x in counted)),
            "by_status": _sorted(Counter(x["status"] for x in known)),
            "by_sending_cluster": _sorted(Counter(x["sending"] for x in counted)),
            "by_host_cluster": _sorted(Counter(x["host"] for x in counted)),
        },
        "participants": {
            "total": len(ps),
            "by_kind": _sorted(Counter(p["kind"] for p in ps)),
            "by_country": _sorted(Counter(p["country"] for p in ps)),
            "by_cluster": _sorted(Counter(p["cluster"] for p in ps)),
        },
        "activities": {"total": len(activities), "by_kind": _sorted(Counter(a["kind"] for a in activities))},
        "meetings": {
            "requested": len(meetings),
            "accepted": accepted,
            "declined": sum(m["declined"] for m in meetings),
            "scheduled": sum(m["scheduled"] for m in meetings),
            "held": sum(m["held"] for m in meetings),
            "acceptance_rate": round(accepted / len(meetings), 3) if meetings else None,
        },
        "satisfaction": {
            "average": round(sum(scores) / len(scores), 2) if scores else None,
            "responses": len(scores),
            "distribution": {str(s): scores.count(s) for s in range(1, 6)},
        },
        "outcomes": _sorted(Counter(o for x in closed for o in x["outcomes"])),
        "countries_reached": len({p["country"] for p in ps} | {a["country"] for a in activities}),
        "lump_sums_eur": {"committed": sum(x["lump"] for x in counted), "paid": sum(x["lump"] for x in closed)},
        "as_of": {"last_event_time": last.astimezone(UTC).isoformat(timespec="microseconds"), "events_applied": n_events},
    }


@asynccontextmanager
async def serving(app) -> AsyncIterator[str]:
    """Serve an ASGI app over real HTTP on a free port (streaming responses and browsers need a socket)."""
    import uvicorn

    from cxc.infra.embedded import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped before it started")
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)
