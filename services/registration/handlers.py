"""What registration does on a command: state change and its event, in one transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.registration.adapters import repository
from services.registration.domain.model import ParticipantIn
from shared.events.catalogue import OfferOrRequest, ParticipantRegistered, Profile
from shared.messaging import outbox
from shared.problems import Problem

SOURCE = "/cxc/registration"


def profile_of(row: asyncpg.Record | dict[str, Any]) -> Profile:
    import json

    def _items(v):
        return tuple(OfferOrRequest(**o) for o in (json.loads(v) if isinstance(v, str) else v))

    return Profile(
        cluster_id=row["cluster_id"], kind=row["kind"], name=row["name"], country=row["country"].strip(),
        city=row["city"], employees=row["employees"], website=row["website"], sectors=tuple(row["sectors"]),
        keywords=tuple(row["keywords"]), offers=_items(row["offers"]), requests=_items(row["requests"]),
        marketing_consent=row["marketing_consent"],
    )


async def register_participant(
    pool: asyncpg.Pool, body: ParticipantIn, *, cluster_id: str, correlation_id: str | None
) -> tuple[asyncpg.Record, bool]:
    """Register a participant into ``cluster_id``; return (row, created). A repeated ``external_ref``
    returns the existing participant and publishes nothing."""
    data = body.model_dump(mode="json")
    async with pool.acquire() as conn, conn.transaction():
        if not await repository.cluster_exists(conn, cluster_id):
            raise Problem(422, f"Cluster {cluster_id!r} does not exist", kind="unknown-cluster")
        pid = uuid.uuid4()
        row = await repository.insert_participant(conn, pid, cluster_id, data)
        if row is None:
            return await repository.participant_by_ref(conn, cluster_id, body.external_ref), False
        await outbox.record(
            conn,
            ParticipantRegistered(participant_id=str(pid), profile=profile_of(row), registered_at=datetime.now(UTC)),
            source=SOURCE,
            correlation_id=correlation_id,
        )
        return row, True
