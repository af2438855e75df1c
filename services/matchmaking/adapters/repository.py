"""The matchmaking repository of the handler contract: the SQL of adapters/ bound to one transaction's
connection, answering with domain values (``Meeting``) instead of driver rows."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.matchmaking.adapters import activities, meetings, profiles
from services.matchmaking.domain.meetings import Meeting, PairTaken


def meeting_of(row: asyncpg.Record) -> Meeting:
    return Meeting(
        meeting_id=row["meeting_id"], activity_id=row["activity_id"], requester_id=row["requester_id"],
        target_id=row["target_id"], message=row["message"], status=row["status"], mutual=row["mutual"],
        expires_at=row["expires_at"], created_at=row["created_at"], schedule_version=row["schedule_version"],
        slot=row["slot"], table=row["table_no"], starts_at=row["starts_at"], ends_at=row["ends_at"],
        held=row["held"],
    )


class Repository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    # --- profiles and activities (replicas of registration's events) ---

    async def profile(self, participant_id: str | uuid.UUID) -> dict | None:
        try:
            key = participant_id if isinstance(participant_id, uuid.UUID) else uuid.UUID(participant_id)
        except ValueError:
            return None  # not an id of a participant: nobody's profile
        row = await profiles.get(self.conn, key)
        return dict(row) if row is not None else None

    async def meets_cluster(self, participant_id: str, cluster_id: str) -> bool:
        return await profiles.meets_cluster(self.conn, participant_id, cluster_id)

    async def activity(self, activity_id: str, *, lock: bool = False) -> dict | None:
        return await activities.get(self.conn, activity_id, lock=lock)

    async def participants(self, activity_id: str) -> list[dict]:
        return await activities.participants(self.conn, activity_id)

    async def is_participant(self, activity_id: str, participant_id: str) -> bool:
        return await activities.is_participant(self.conn, activity_id, participant_id)

    # --- meetings ---

    async def meeting(self, meeting_id: uuid.UUID, *, lock: bool = False) -> Meeting | None:
        row = await meetings.get(self.conn, meeting_id, lock=lock)
        return meeting_of(row) if row is not None else None

    async def open_meeting_between(self, activity_id: str, a: str, b: str) -> Meeting | None:
        row = await meetings.open_between(self.conn, activity_id, a, b)
        return meeting_of(row) if row is not None else None

    async def pending_count(self, participant_id: str) -> int:
        return await meetings.pending_count(self.conn, participant_id)

    async def create_meeting(self, activity_id: str, requester_id: str, target_id: str, message: str | None,
                             expires_at: datetime) -> Meeting:
        try:
            row = await meetings.create(self.conn, activity_id, requester_id, target_id, message, expires_at)
        except asyncpg.UniqueViolationError:
            raise PairTaken from None
        return meeting_of(row)

    async def decide(self, meeting_id: uuid.UUID, status: str, *, mutual: bool | None = None) -> Meeting:
        return meeting_of(await meetings.decide(self.conn, meeting_id, status, mutual=mutual))

    async def declined_partners(self, activity_id: str, participant_id: str) -> set[str]:
        return await meetings.declined_partners(self.conn, activity_id, participant_id)

    async def due_for_expiry(self, now: datetime, limit: int) -> list[Meeting]:
        return [meeting_of(r) for r in await meetings.due_for_expiry(self.conn, now, limit)]

    async def accepted(self, activity_id: str) -> list[Meeting]:
        return [meeting_of(r) for r in await meetings.accepted(self.conn, activity_id)]

    async def next_schedule_version(self, activity_id: str) -> int:
        return await meetings.schedule_version(self.conn, activity_id)

    async def set_placement(self, meeting_id: uuid.UUID, version: int, slot: int | None, table: int | None,
                            starts_at: datetime | None, ends_at: datetime | None) -> None:
        await meetings.set_placement(self.conn, meeting_id, version, slot, table, starts_at, ends_at)

    async def agenda(self, activity_id: str, participant_id: str | None) -> list[Meeting]:
        return [meeting_of(r) for r in await meetings.agenda(self.conn, activity_id, participant_id)]

    async def record_feedback(self, meeting_id: uuid.UUID, participant_id: str, rating: str) -> bool:
        return await meetings.record_feedback(self.conn, meeting_id, participant_id, rating)

    async def feedback(self, meeting_id: uuid.UUID) -> dict[str, str]:
        return await meetings.feedback(self.conn, meeting_id)

    async def mark_held(self, meeting_id: uuid.UUID) -> bool:
        return await meetings.mark_held(self.conn, meeting_id)
