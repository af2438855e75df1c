"""``cxc demo``: post a realistic two-year programme through the public ingress API of a running stack.

Six partner clusters, about 300 participants, missions, 5 study visits, matchmaking events with meeting
requests, answers, schedules and feedback (when the matchmaking API is there), learning tandems, 98
counted exchanges of which 71 SMEs (plus pending and cancelled applications), approvals and closing
reports, so that the dashboard shows the programme as it was. The programme is generated from a
fixed seed and every write carries a deterministic ``Idempotency-Key``: running the demo twice posts the
same requests and changes nothing the second time.

Each partner cluster's participants, exchanges and closing reports are posted with that cluster's partner
key, activities and approvals with the coordinator key (the dev keys in ``.cxc/dev.json``).
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

CLUSTERS = {  # id → (country, city)
    "silicon-saxony": ("DE", "Dresden"), "pole-scs": ("FR", "Sophia Antipolis"), "mazovia-ict": ("PL", "Warsaw"),
    "business-hive-vilnius": ("LT", "Vilnius"), "cdti-sofia": ("BG", "Sofia"), "gaia": ("ES", "San Sebastián"),
}
PROGRAMME_START = date(2024, 1, 8)
# counted exchanges per programme quarter: 38 by month 12, 60 by month 18, 98 by month 24
EXCHANGES_PER_QUARTER = (4, 9, 12, 13, 10, 12, 18, 20)
SME_EXCHANGES = 71
STAFF_EXCHANGES = 22
RESEARCH_EXCHANGES = 98 - SME_EXCHANGES - STAFF_EXCHANGES
PENDING, CANCELLED = 4, 6

SECTORS = ["J62.01", "J62.02", "J63.11", "C26.11", "C26.51", "C27.12", "M72.19", "M71.12", "C28.99", "D35.11"]
KEYWORDS = ["smart mobility", "edge AI", "cybersecurity", "digital twins", "IoT sensors", "5G", "photonics",
            "e-health", "smart grids", "industrial automation", "semiconductors", "cloud", "blockchain", "robotics"]
WORDS = ["Nova", "Vector", "Helio", "Quant", "Orbis", "Lumen", "Terra", "Axion", "Pulse", "Cobalt", "Vertex", "Nimbus",
         "Arcadia", "Kinet", "Stratos", "Fusion", "Prism", "Sigma", "Delta", "Aurora"]
SUFFIX = {"DE": "GmbH", "FR": "SAS", "PL": "sp. z o.o.", "LT": "UAB", "BG": "EOOD", "ES": "S.L."}
FIRST = ["Anna", "Jonas", "Marie", "Piotr", "Ieva", "Georgi", "Lucía", "Tomas", "Claire", "Marta", "Nikolai", "Elena"]
LAST = ["Novak", "Schmidt", "Dubois", "Kowalska", "Petrauskas", "Ivanova", "García", "Weber", "Laurent", "Horvat"]


@dataclass
class Programme:
    participants: list[dict] = field(default_factory=list)  # {ref, cluster, body}
    activities: list[dict] = field(default_factory=list)  # {ref, body, joiners: [participant refs]}
    exchanges: list[dict] = field(default_factory=list)  # {ref, participant, cluster, body, fate, completion}
    meetings: list[dict] = field(default_factory=list)  # {activity, requester, target, answer, ratings}


def subset(p: Programme, participants: int) -> Programme:
    """The first ``participants`` participants with their exchanges and every activity (a quicker demo)."""
    keep = {x["ref"] for x in p.participants[:participants]}
    return Programme(
        participants=p.participants[:participants],
        activities=[dict(a, joiners=[r for r in a["joiners"] if r in keep]) for a in p.activities],
        exchanges=[x for x in p.exchanges if x["participant"] in keep],
        meetings=[m for m in p.meetings if m["requester"] in keep and m["target"] in keep],
    )


def working_days_after(day: date, n: int) -> date:
    """The day on which a stay starting on ``day`` reaches ``n`` working days."""
    count = 0
    while True:
        if day.weekday() < 5:
            count += 1
            if count == n:
                return day
        day += timedelta(days=1)


def next_monday(day: date) -> date:
    return day + timedelta(days=(7 - day.weekday()) % 7)


def generate(seed: int = 2024) -> Programme:
    rnd = random.Random(seed)
    p = Programme()
    ids = list(CLUSTERS)

    kinds = (["sme"] * 180 + ["cluster_staff"] * 42 + ["research"] * 30 + ["large_enterprise"] * 24
             + ["public_body"] * 24)
    rnd.shuffle(kinds)
    for i, kind in enumerate(kinds):
        cluster = ids[i % len(ids)]
        country, city = CLUSTERS[cluster]
        name = f"{rnd.choice(WORDS)} {rnd.choice(WORDS)} {SUFFIX[country]}" if kind in ("sme", "large_enterprise") \
            else f"{city} {'Cluster Office' if kind == 'cluster_staff' else 'Institute' if kind == 'research' else 'Agency'} {i}"
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        kw = rnd.sample(KEYWORDS, 3)
        p.participants.append({"ref": f"p{i:03d}", "cluster": cluster, "kind": kind, "body": {
            "kind": kind, "name": name, "country": country, "city": city,
            "employees": rnd.choice([8, 15, 30, 60, 120, 240]) if kind == "sme" else rnd.choice([20, 400, 2500]),
            "sectors": rnd.sample(SECTORS, 2), "keywords": kw,
            "offers": [{"type": rnd.choice(["technology", "service", "product"]), "text": f"{kw[0]} solutions"}],
            "requests": [{"type": rnd.choice(["partnership", "investment", "research"]), "text": f"partners in {kw[1]}"}],
            "contact": {"name": f"{first} {last}", "email": f"{first.lower()}.{last.lower()}.{i}@demo.example.org"},
            "consent": {"data_processing": True, "marketing": rnd.random() < 0.4},
            "external_ref": f"demo-{i:03d}",
        }})

    def activity(ref, kind, title, host, starts, days, joiners=(), meetings=None, online=False):
        country, city = CLUSTERS[host]
        body = {"kind": kind, "title": title, "host_cluster_id": host, "country": country, "city": city,
                "starts_on": starts.isoformat(), "ends_on": (starts + timedelta(days=days - 1)).isoformat(),
                "online": online}
        if meetings:
            body["meetings"] = meetings
        p.activities.append({"ref": ref, "kind": kind, "host": host, "starts": starts, "body": body,
                             "joiners": list(joiners)})

    q = lambda n: PROGRAMME_START + timedelta(weeks=13 * n)  # noqa: E731
    for n, host in enumerate(["silicon-saxony", "pole-scs", "gaia", "mazovia-ict", "cdti-sofia", "business-hive-vilnius"]):
        activity(f"mission-{n}", "mission", f"Trade mission to {CLUSTERS[host][1]}", host, next_monday(q(n) + timedelta(weeks=3)), 3)
    for n, host in enumerate(["pole-scs", "silicon-saxony", "business-hive-vilnius", "gaia", "mazovia-ict"]):
        activity(f"visit-{n}", "study_visit", f"Study visit: {CLUSTERS[host][1]} innovation ecosystem", host,
                 next_monday(q(n + 1) + timedelta(weeks=6)), 2)
    smes = [x["ref"] for x in p.participants if x["kind"] == "sme"]
    for n, (host, tz) in enumerate([("silicon-saxony", "Europe/Berlin"), ("gaia", "Europe/Madrid")]):
        activity(f"b2b-{n}", "matchmaking_event", f"B2B matchmaking at {CLUSTERS[host][1]}", host,
                 next_monday(q(2 + 3 * n) + timedelta(weeks=2)) + timedelta(days=2), 1, joiners=rnd.sample(smes, 40),
                 meetings={"day_start": "09:00", "day_end": "17:00", "slot_minutes": 30, "tables": 20, "timezone": tz})
    for n in range(3):
        host = ids[n * 2]
        activity(f"tandem-{n}", "learning_tandem", f"Learning tandem: cluster services {n + 1}", host,
                 next_monday(q(1 + 2 * n)), 5)
    for n in range(4):
        activity(f"webinar-{n}", "webinar", f"Webinar: internationalisation {n + 1}", ids[n], q(n * 2) + timedelta(days=30),
                 1, online=True)

    # B2B meeting requests at the matchmaking events, between participants of different clusters
    home = {x["ref"]: x["cluster"] for x in p.participants}
    for a in p.activities:
        if a["kind"] != "matchmaking_event":
            continue
        pairs = [(r, t) for r in a["joiners"] for t in a["joiners"] if r < t and home[r] != home[t]]
        for requester, target in rnd.sample(pairs, 45):
            if rnd.random() < 0.5:
                requester, target = target, requester
            answer = rnd.choices(["accept", "decline", "pending"], weights=[72, 20, 8])[0]
            ratings = {}
            if answer == "accept":
                fate = rnd.choices(["cooperation_possible", "insufficient_interest", "did_not_take_place", None],
                                   weights=[55, 20, 10, 15])[0]
                if fate is not None:
                    ratings = {requester: fate, target: fate}
            p.meetings.append({"activity": a["ref"], "requester": requester, "target": target, "answer": answer,
                               "ratings": ratings})

    # exchanges: who goes, when, where
    by_kind = {k: [x for x in p.participants if x["kind"] == k] for k in ("sme", "cluster_staff", "research")}
    travellers = (rnd.sample(by_kind["sme"], SME_EXCHANGES + PENDING + CANCELLED)
                  + rnd.sample(by_kind["cluster_staff"], STAFF_EXCHANGES) + rnd.sample(by_kind["research"], RESEARCH_EXCHANGES))
    counted, extra = travellers[:SME_EXCHANGES], travellers[SME_EXCHANGES:SME_EXCHANGES + PENDING + CANCELLED]
    counted += travellers[SME_EXCHANGES + PENDING + CANCELLED:]
    rnd.shuffle(counted)
    starts = []
    for quarter, n in enumerate(EXCHANGES_PER_QUARTER):
        for _ in range(n):
            starts.append(next_monday(q(quarter) + timedelta(days=rnd.randrange(0, 80))) + timedelta(days=rnd.choice([0, 0, 1, 2])))
    starts.sort()
    visits = [a for a in p.activities if a["kind"] in ("study_visit", "mission")]
    for i, (traveller, start) in enumerate(zip(counted + extra, starts + starts[-PENDING - CANCELLED:], strict=True)):
        kind = {"sme": "sme_exchange", "cluster_staff": "staff_exchange", "research": "learning_tandem"}[traveller["kind"]]
        host = rnd.choice([c for c in ids if c != traveller["cluster"]])
        body = {"participant_id": traveller["ref"], "host_cluster_id": host, "kind": kind,
                "start_date": start.isoformat(), "goals": f"Meet {host} members working on {traveller['body']['keywords'][0]}"}
        if traveller["kind"] == "sme" and i % 9 == 4:  # some SMEs travel within a study visit or mission
            linked = [a for a in visits if a["host"] != traveller["cluster"]]
            a = min(linked, key=lambda a: abs((a["starts"] - start).days))
            body.update(activity_id=a["ref"], host_cluster_id=a["host"], kind=a["kind"], start_date=a["starts"].isoformat())
            start = a["starts"]
        days = rnd.choice([3, 5, 5, 5, 8, 10, 10, 15])
        body["end_date"] = working_days_after(start, days).isoformat()
        fate = "counted" if i < len(counted) else ("pending" if i < len(counted) + PENDING else "cancelled")
        completion = None
        if fate == "counted" and i % 11 != 7:  # most sent their closing report
            satisfaction = rnd.choices([5, 4, 3, 2], weights=[50, 35, 12, 3])[0]
            outcomes = rnd.sample(["partnership_agreement", "joint_project", "new_customer", "knowledge_transfer"],
                                  rnd.choice([1, 1, 2, 3]))
            completion = {"completed_on": body["end_date"], "working_days": days, "meetings_held": rnd.randint(2, 12),
                          "satisfaction": satisfaction, "outcomes": outcomes}
        p.exchanges.append({"ref": f"x{i:03d}", "participant": traveller["ref"], "cluster": traveller["cluster"],
                            "body": body, "fate": fate, "completion": completion})
    return p


# --- posting -------------------------------------------------------------------------------------


class Ingress:
    def __init__(self, base_url: str, keys: dict[str, str], namespace: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30)
        self.keys = keys
        self.namespace = namespace
        self.sent = 0

    def post(self, path: str, key: str, body: dict | None, idem: str, ok=(200, 201)) -> dict:
        headers = {"Authorization": f"Bearer {self.keys[key]}", "Idempotency-Key": f"{self.namespace}-{idem}"}
        for attempt in range(8):
            r = self.client.post(path, json=body, headers=headers)
            if r.status_code in (429, 503) and attempt < 7:
                time.sleep(float(r.headers.get("retry-after", 1)))
                continue
            break
        self.sent += 1
        if r.status_code not in ok:
            raise DemoFailed(f"POST {path} → {r.status_code}: {r.text[:500]}", r.status_code)
        return r.json()

    def get(self, path: str, key: str) -> dict | None:
        r = self.client.get(path, headers={"Authorization": f"Bearer {self.keys[key]}"})
        return r.json() if r.status_code == 200 else None

    def has(self, path: str) -> bool:
        try:
            return path in self.client.get("/openapi.json").json().get("paths", {})
        except (httpx.HTTPError, ValueError):
            return False


class DemoFailed(RuntimeError):
    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def post_programme(api: Ingress, p: Programme, say=print) -> dict[str, int]:
    pid: dict[str, str] = {}
    for x in p.participants:
        pid[x["ref"]] = api.post("/v1/participants", x["cluster"], x["body"], x["ref"])["id"]
    say(f"  {len(pid)} participants registered")

    aid: dict[str, str] = {}
    for a in p.activities:
        aid[a["ref"]] = api.post("/v1/activities", "coordinator", a["body"], a["ref"])["id"]
        for ref in a["joiners"]:
            who = next(x["cluster"] for x in p.participants if x["ref"] == ref)
            api.post(f"/v1/activities/{aid[a['ref']]}/participants", who, {"participant_id": pid[ref]}, f"{a['ref']}-{ref}")
    say(f"  {len(aid)} activities, {sum(len(a['joiners']) for a in p.activities)} participants joined matchmaking events")

    counts = {"counted": 0, "pending": 0, "cancelled": 0, "completed": 0, "smes": 0}
    sme_refs = {x["ref"] for x in p.participants if x["kind"] == "sme"}
    for x in p.exchanges:
        body = dict(x["body"], participant_id=pid[x["participant"]])
        if "activity_id" in body:
            body["activity_id"] = aid[body["activity_id"]]
        xid = api.post("/v1/exchanges", x["cluster"], body, x["ref"])["id"]
        if x["fate"] == "pending":
            counts["pending"] += 1
            continue
        if x["fate"] == "cancelled":
            api.post(f"/v1/exchanges/{xid}/cancel", x["cluster"], {"reason": "participant unavailable"}, f"{x['ref']}-cancel")
            counts["cancelled"] += 1
            continue
        api.post(f"/v1/exchanges/{xid}/approve", "coordinator", None, f"{x['ref']}-approve")
        counts["counted"] += 1
        counts["smes"] += x["participant"] in sme_refs
        if x["completion"]:
            api.post(f"/v1/exchanges/{xid}/completion", x["cluster"], x["completion"], f"{x['ref']}-completion")
            counts["completed"] += 1
    say(f"  {counts['counted']} exchanges approved ({counts['smes']} SMEs), {counts['completed']} closing reports, "
        f"{counts['pending']} pending, {counts['cancelled']} cancelled")
    counts["ids"] = {"participants": pid, "activities": aid}
    return counts


def post_meetings(mm: Ingress, p: Programme, pid: dict[str, str], aid: dict[str, str], say=print,
                  wait_s: float = 60) -> dict[str, int]:
    """Meeting requests, answers, the schedule and feedback at each matchmaking event (matchmaking API).

    Matchmaking learns activities and participants from events, so a first request may find it not yet
    knowing them (404/422): retried until ``wait_s``. An event whose agenda already has meetings was posted
    by an earlier run and is skipped (matchmaking has no Idempotency-Key)."""
    home = {x["ref"]: x["cluster"] for x in p.participants}
    counts = {"requested": 0, "accepted": 0, "declined": 0, "scheduled": 0, "rated": 0}
    for a in p.activities:
        mine = [m for m in p.meetings if m["activity"] == a["ref"]]
        if not mine:
            continue
        activity = aid[a["ref"]]
        agenda = mm.get(f"/v1/activities/{activity}/agenda", "coordinator")
        if agenda is not None and agenda.get("meetings"):
            say(f"  {a['ref']}: meetings already posted, skipped")
            continue
        ids = {}
        for n, m in enumerate(mine):
            body = {"activity_id": activity, "requester_id": pid[m["requester"]], "target_id": pid[m["target"]]}
            deadline = time.monotonic() + (wait_s if n == 0 else 10)
            while True:
                try:
                    ids[n] = mm.post("/v1/meeting-requests", home[m["requester"]], body, "-", ok=(200, 201))["id"]
                    break
                except DemoFailed as exc:
                    if exc.status not in (404, 422) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
            counts["requested"] += 1
        for n, m in enumerate(mine):
            if m["answer"] != "pending":
                mm.post(f"/v1/meeting-requests/{ids[n]}/{m['answer']}", home[m["target"]], None, "-")
                counts["accepted" if m["answer"] == "accept" else "declined"] += 1
        result = mm.post(f"/v1/activities/{activity}/schedule", "coordinator", None, "-")
        counts["scheduled"] += result.get("scheduled", 0)
        scheduled = {item["meeting_id"] for item in (mm.get(f"/v1/activities/{activity}/agenda", "coordinator")
                                                     or {}).get("meetings", [])}
        for n, m in enumerate(mine):
            if ids[n] not in scheduled:
                continue
            for ref, rating in m["ratings"].items():
                mm.post(f"/v1/meetings/{ids[n]}/feedback", home[ref], {"participant_id": pid[ref], "rating": rating}, "-")
                counts["rated"] += 1
    say(f"  {counts['requested']} meeting requests, {counts['accepted']} accepted, {counts['declined']} declined, "
        f"{counts['scheduled']} scheduled, {counts['rated']} ratings")
    return counts


def cmd_demo(args) -> int:
    from cxc.cli import home

    path = Path(args.dev_json) if args.dev_json else home() / "dev.json"
    try:
        dev = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {path} ({exc}); start the stack with `cxc run` first", file=sys.stderr)
        return 2
    url = args.registration_url or dev["urls"]["registration"]
    api = Ingress(url, dev["keys"], args.namespace)
    for needed in ("/v1/activities", "/v1/exchanges", "/v1/exchanges/{exchange_id}/approve"):
        if not api.has(needed):
            print(f"error: {url} does not offer {needed} yet", file=sys.stderr)
            return 2
    print(f"posting the demo programme to {url} (idempotent: a second run changes nothing)")
    try:
        programme = generate(args.seed)
        programme = subset(programme, args.participants) if args.participants else programme
        ids = post_programme(api, programme)["ids"]
        mm_url = dev["urls"].get("matchmaking")
        mm = Ingress(mm_url, dev["keys"], args.namespace) if mm_url else None
        if mm is not None and mm.has("/v1/meeting-requests") and mm.has("/v1/activities/{activity_id}/schedule"):
            post_meetings(mm, programme, ids["participants"], ids["activities"])
            api.sent += mm.sent
        else:
            print("  matchmaking offers no meeting-request API here: meetings skipped")
    except DemoFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    reporting = dev["urls"].get("reporting")
    print(f"{api.sent} requests sent. Scoreboard: {reporting}/ (the projection catches up within seconds)")
    return 0


def register(sub) -> None:
    from cxc.ops import examples

    d = sub.add_parser("demo", help="post a realistic programme (six clusters, ~300 participants, 98 exchanges) "
                                    "through the ingress API of a running stack",
                       epilog=examples("cxc run &  # then, once it prints its URLs:", "cxc demo",
                                       "cxc demo --seed 7 --participants 50"))
    d.add_argument("--dev-json", help="dev keys and URLs (default: $CXC_HOME/dev.json, written by `cxc run`)")
    d.add_argument("--registration-url", help="override the registration URL from dev.json")
    d.add_argument("--seed", type=int, default=2024, help="another seed gives another (equally sized) programme")
    d.add_argument("--namespace", default="cxc-demo", help="prefix of the Idempotency-Keys")
    d.add_argument("--participants", type=int, default=None, help="post only the first N participants and their exchanges")
    d.set_defaults(fn=cmd_demo)


def expected(p: Programme) -> dict[str, Any]:
    """What the scoreboard should show after the demo (used by the tests)."""
    counted = [x for x in p.exchanges if x["fate"] == "counted"]
    kinds = {x["ref"]: x["kind"] for x in p.participants}
    return {"participants": len(p.participants), "exchanges": len(counted),
            "smes": sum(kinds[x["participant"]] == "sme" for x in counted),
            "study_visits": sum(a["kind"] == "study_visit" for a in p.activities),
            "closing_reports": sum(1 for x in counted if x["completion"])}
