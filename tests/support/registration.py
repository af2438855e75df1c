"""An in-memory registration repository (the interface of ``Repository`` in
services/registration/adapters/repository.py), for unit tests of the handlers with
``tests.support.fakes.FakeUnitOfWork``. Its attributes are plain data, so a savepoint's deep copy rolls them
back; the rules the SQL enforces (external_ref unique per cluster, one exchange not cancelled per participant,
one join per participant and activity) hold here too. Rows are dicts shaped like the tables' rows."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.registration.domain import exchange

CLUSTERS = {
    "alpha": ("Alpha mobility", "PL", "Warszawa"),
    "beta": ("Beta automotive", "ES", "San Sebastián"),
    "gamma": ("Gamma logistics", "DE", "Berlin"),
}

_ERASED_TEXT = "[erased]"


class FakeRepository:
    def __init__(self) -> None:
        self.clusters = {cid: {"id": cid, "name": n, "country": c, "city": city}
                         for cid, (n, c, city) in CLUSTERS.items()}
        self.participants: dict[uuid.UUID, dict] = {}
        self.keys: dict[uuid.UUID, bytes] = {}
        self.activities: dict[uuid.UUID, dict] = {}
        self.joined: dict[tuple[uuid.UUID, uuid.UUID], list] = {}
        self.exchanges: dict[uuid.UUID, dict] = {}
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)

    def _now(self) -> datetime:
        # Strictly increasing, so "oldest first" has one answer.
        self._clock += timedelta(seconds=1)
        return self._clock

    # --- clusters ---

    async def cluster_exists(self, cid: str) -> bool:
        return cid in self.clusters

    async def cluster(self, cid: str) -> dict | None:
        return dict(self.clusters[cid]) if cid in self.clusters else None

    # --- participants ---

    async def insert_participant(self, pid: uuid.UUID, cluster_id: str, p: dict[str, Any]) -> dict | None:
        ref = p.get("external_ref")
        if ref is not None and any(r["cluster_id"] == cluster_id and r["external_ref"] == ref
                                   for r in self.participants.values()):
            return None
        c = p["contact"]
        self.participants[pid] = {
            "id": pid, "cluster_id": cluster_id, "external_ref": ref, "status": "active", "kind": p["kind"],
            "name": p["name"], "country": p["country"], "city": p.get("city"), "employees": p.get("employees"),
            "website": p.get("website"), "sectors": list(p["sectors"]), "keywords": list(p["keywords"]),
            "offers": json.dumps(p["offers"]), "requests": json.dumps(p["requests"]),
            "marketing_consent": p["consent"]["marketing"], "created_at": self._now(),
            "contact_name": c["name"], "contact_email": c["email"], "contact_phone": c.get("phone"),
            "contact_language": c.get("language", "en"),
        }
        return dict(self.participants[pid])

    async def participant_by_ref(self, cluster_id: str, external_ref: str) -> dict | None:
        return next((dict(r) for r in self.participants.values()
                     if r["cluster_id"] == cluster_id and r["external_ref"] == external_ref), None)

    async def get_participant(self, pid: uuid.UUID, *, lock: bool = False) -> dict | None:
        row = self.participants.get(pid)
        return dict(row) if row is not None else None

    async def list_participants(self, *, cluster_id, kind, country, after, limit) -> list[dict]:
        rows = sorted((r for r in self.participants.values() if r["status"] != "erased"
                       and cluster_id in (None, r["cluster_id"]) and kind in (None, r["kind"])
                       and country in (None, r["country"])
                       and (after is None or (r["created_at"], r["id"]) > after)),
                      key=lambda r: (r["created_at"], r["id"]))
        return [dict(r) for r in rows[:limit]]

    async def update_participant(self, pid: uuid.UUID, changes: dict[str, Any]) -> dict:
        row = self.participants[pid]
        for name, value in changes.items():
            if name == "contact":
                row.update(contact_name=value["name"], contact_email=value["email"],
                           contact_phone=value.get("phone"), contact_language=value.get("language", "en"))
            elif name in ("offers", "requests"):
                row[name] = json.dumps(value)
            else:
                row[name] = value
        return dict(row)

    async def erase_participant(self, pid: uuid.UUID) -> None:
        self.keys.pop(pid, None)
        self.participants[pid].update(
            status="erased", name=None, external_ref=None, city=None, website=None, keywords=[], offers="[]",
            requests="[]", marketing_consent=False, contact_name=None, contact_email=None, contact_phone=None,
            contact_language=None)
        for x in self.exchanges.values():
            if x["participant_id"] == pid:
                x.update(goals=_ERASED_TEXT, testimonial=None,
                         cancel_reason=None if x["cancel_reason"] is None else _ERASED_TEXT)

    async def data_key(self, pid: uuid.UUID, new_key: bytes) -> bytes:
        return self.keys.setdefault(pid, new_key)

    # --- activities ---

    async def insert_activity(self, aid: uuid.UUID, a: dict[str, Any]) -> dict:
        self.activities[aid] = {
            "id": aid, "kind": a["kind"], "title": a["title"], "host_cluster_id": a["host_cluster_id"],
            "city": a.get("city"), "country": a["country"], "starts_on": a["starts_on"], "ends_on": a["ends_on"],
            "online": a["online"], "capacity": a.get("capacity"),
            "meetings": json.dumps(a["meetings"]) if a.get("meetings") else None,
        }
        return dict(self.activities[aid])

    async def get_activity(self, aid: uuid.UUID, *, lock: bool = False) -> dict | None:
        row = self.activities.get(aid)
        return dict(row) if row is not None else None

    async def list_activities(self, kind: str | None) -> list[dict]:
        return [dict(r) for r in sorted(self.activities.values(), key=lambda r: (r["starts_on"], r["id"]))
                if kind in (None, r["kind"])]

    async def count_activity_participants(self, aid: uuid.UUID) -> int:
        return sum(1 for (a, _) in self.joined if a == aid)

    async def join_activity(self, aid: uuid.UUID, pid: uuid.UUID, unavailable: list) -> dict | None:
        if (aid, pid) in self.joined:
            return None
        self.joined[(aid, pid)] = list(unavailable)
        return {"activity_id": aid, "participant_id": pid, "unavailable": json.dumps(unavailable)}

    # --- exchanges ---

    async def insert_exchange(self, xid: uuid.UUID, x: dict[str, Any]) -> dict | None:
        if any(r["participant_id"] == x["participant_id"] and r["status"] != "cancelled"
               for r in self.exchanges.values()):
            return None
        self.exchanges[xid] = {
            "id": xid, "participant_id": x["participant_id"], "sending_cluster_id": x["sending_cluster_id"],
            "host_cluster_id": x["host_cluster_id"], "activity_id": x.get("activity_id"), "kind": x["kind"],
            "start_date": x["start_date"], "end_date": x["end_date"], "working_days": x["working_days"],
            "goals": x["goals"], "status": "applied", "lump_sum_eur": None, "distance_km": None,
            "approved_at": None, "cancelled_at": None, "cancel_reason": None, "completed_on": None,
            "days_worked": None, "meetings_held": None, "satisfaction": None, "outcomes": [], "testimonial": None,
            "created_at": self._now(),
        }
        return dict(self.exchanges[xid])

    async def get_exchange(self, xid: uuid.UUID, *, lock: bool = False) -> dict | None:
        row = self.exchanges.get(xid)
        return dict(row) if row is not None else None

    async def open_exchange_of(self, pid: uuid.UUID) -> dict | None:
        return next((dict(r) for r in self.exchanges.values()
                     if r["participant_id"] == pid and r["status"] in exchange.OPEN), None)

    async def list_exchanges(self, *, cluster_id: str | None, status: str | None) -> list[dict]:
        return [dict(r) for r in sorted(self.exchanges.values(), key=lambda r: (r["created_at"], r["id"]))
                if cluster_id in (None, r["sending_cluster_id"], r["host_cluster_id"]) and status in (None, r["status"])]

    async def set_exchange(self, xid: uuid.UUID, **values: Any) -> dict:
        self.exchanges[xid].update(values)
        return dict(self.exchanges[xid])
