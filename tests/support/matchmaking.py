"""An in-memory matchmaking repository (the interface of services/matchmaking/adapters/repository.py), for
unit tests of the handlers with ``tests.support.fakes.FakeUnitOfWork``. Its attributes are plain data, so a
savepoint's deep copy rolls them back; the rules the SQL enforces (one open request per pair) hold here too."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime

from services.matchmaking.domain.meetings import Meeting, PairTaken

OPEN = ("pending", "accepted")


class FakeRepository:
    def __init__(self) -> None:
        self.profiles: dict[str, dict] = {}
        self.activities: dict[str, dict] = {}
        self.joined: dict[str, dict[str, list]] = {}  # activity id → participant id → unavailable periods
        self.meetings: dict[uuid.UUID, Meeting] = {}
        self.versions: dict[str, int] = {}
        self.ratings: dict[uuid.UUID, dict[str, str]] = {}
        self.lose_next_race = False  # the next create finds the pair taken by a concurrent request

    # --- arranging a test ---

    def add_profile(self, cluster_id: str, *, name: str = "Firm", country: str = "DE", sectors=("J62.01",),
                    keywords=("mobility",), offers=(), requests=()) -> str:
        pid = str(uuid.uuid4())
        self.profiles[pid] = {
            "participant_id": uuid.UUID(pid), "cluster_id": cluster_id, "kind": "sme", "name": name,
            "country": country, "sectors": list(sectors), "keywords": list(keywords),
            "offers": [dict(o) for o in offers], "requests": [dict(r) for r in requests],
        }
        return pid

    def add_activity(self, host_cluster_id: str, *, kind: str = "matchmaking_event", meetings: dict | None = None,
                     day: date = date(2026, 9, 1), online: bool = False) -> str:
        aid = str(uuid.uuid4())
        self.activities[aid] = {
            "activity_id": aid, "kind": kind, "title": "Meeting day", "host_cluster_id": host_cluster_id,
            "country": "ES", "starts_on": day, "ends_on": day, "online": online, "meetings": meetings,
        }
        self.joined[aid] = {}
        return aid

    def join(self, activity_id: str, *pids: str, unavailable=()) -> None:
        for pid in pids:
            self.joined[activity_id][pid] = list(unavailable)

    def put(self, meeting: Meeting) -> Meeting:
        self.meetings[meeting.meeting_id] = meeting
        return meeting

    # --- the repository ---

    async def profile(self, participant_id) -> dict | None:
        found = self.profiles.get(str(participant_id))
        return dict(found) if found is not None else None

    async def meets_cluster(self, participant_id: str, cluster_id: str) -> bool:
        return any(
            participant_id in people
            and any(self.profiles.get(p, {}).get("cluster_id") == cluster_id for p in people)
            for people in self.joined.values()
        )

    async def activity(self, activity_id: str, *, lock: bool = False) -> dict | None:
        found = self.activities.get(activity_id)
        return dict(found) if found is not None else None

    async def participants(self, activity_id: str) -> list[dict]:
        people = self.joined.get(activity_id, {})
        return [{**self.profiles[p], "participant_id": p, "unavailable": list(people[p])}
                for p in sorted(people) if p in self.profiles]

    async def is_participant(self, activity_id: str, participant_id: str) -> bool:
        return participant_id in self.joined.get(activity_id, {})

    async def meeting(self, meeting_id: uuid.UUID, *, lock: bool = False) -> Meeting | None:
        return self.meetings.get(meeting_id)

    def _open(self, activity_id: str, a: str, b: str) -> Meeting | None:
        return next((m for m in self.meetings.values() if m.activity_id == activity_id and m.status in OPEN
                     and {m.requester_id, m.target_id} == {a, b}), None)

    async def open_meeting_between(self, activity_id: str, a: str, b: str) -> Meeting | None:
        return self._open(activity_id, a, b)

    async def pending_count(self, participant_id: str) -> int:
        return sum(1 for m in self.meetings.values() if m.status == "pending" and m.requester_id == participant_id)

    async def create_meeting(self, activity_id: str, requester_id: str, target_id: str, message: str | None,
                             expires_at: datetime) -> Meeting:
        if self.lose_next_race or self._open(activity_id, requester_id, target_id) is not None:
            self.lose_next_race = False
            raise PairTaken
        return self.put(Meeting(
            meeting_id=uuid.uuid4(), activity_id=activity_id, requester_id=requester_id, target_id=target_id,
            message=message, status="pending", mutual=False, expires_at=expires_at, created_at=datetime.now(UTC),
        ))

    async def decide(self, meeting_id: uuid.UUID, status: str, *, mutual: bool | None = None) -> Meeting:
        m = self.meetings[meeting_id]
        return self.put(dataclasses.replace(m, status=status, mutual=m.mutual if mutual is None else mutual))

    async def declined_partners(self, activity_id: str, participant_id: str) -> set[str]:
        return {m.other(participant_id) for m in self.meetings.values()
                if m.activity_id == activity_id and m.status == "declined" and participant_id in m.parties}

    async def due_for_expiry(self, now: datetime, limit: int) -> list[Meeting]:
        due = sorted((m for m in self.meetings.values() if m.status == "pending" and m.expires_at <= now),
                     key=lambda m: m.expires_at)
        return due[:limit]

    async def accepted(self, activity_id: str) -> list[Meeting]:
        return sorted((m for m in self.meetings.values() if m.activity_id == activity_id and m.status == "accepted"),
                      key=lambda m: m.meeting_id)

    async def next_schedule_version(self, activity_id: str) -> int:
        self.versions[activity_id] = self.versions.get(activity_id, 0) + 1
        return self.versions[activity_id]

    async def set_placement(self, meeting_id, version, slot, table, starts_at, ends_at) -> None:
        self.put(dataclasses.replace(self.meetings[meeting_id], schedule_version=version, slot=slot, table=table,
                                     starts_at=starts_at, ends_at=ends_at))

    async def agenda(self, activity_id: str, participant_id: str | None) -> list[Meeting]:
        return sorted(
            (m for m in self.meetings.values()
             if m.activity_id == activity_id and m.status == "accepted" and m.starts_at is not None
             and (participant_id is None or participant_id in m.parties)),
            key=lambda m: (m.starts_at, m.table is None, m.table or 0, m.meeting_id),
        )

    async def record_feedback(self, meeting_id: uuid.UUID, participant_id: str, rating: str) -> bool:
        given = self.ratings.setdefault(meeting_id, {})
        if participant_id in given:
            return False
        given[participant_id] = rating
        return True

    async def feedback(self, meeting_id: uuid.UUID) -> dict[str, str]:
        return dict(self.ratings.get(meeting_id, {}))

    async def mark_held(self, meeting_id: uuid.UUID) -> bool:
        if self.meetings[meeting_id].held:
            return False
        self.put(dataclasses.replace(self.meetings[meeting_id], held=True))
        return True
