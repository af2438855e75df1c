"""Programme administration: clusters and API keys, shared by the API and ``cxc admin``/``cxc keys``.

Keys are published through the outbox (``apikey.issued`` / ``apikey.revoked``) because every service
authenticates callers from its own replica. Clusters publish nothing: no other service keeps cluster
data (events carry the cluster ids they concern), so there is no one to tell.

A key is shown once, in the response that creates it; it is never stored, so key writes take no
Idempotency-Key (a replayed response would have to keep the secret).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.registration.adapters import repository
from services.registration.domain.programme import ClusterIn, ClusterPatch, KeyIn, ProgrammeIn
from services.registration.entrypoints.writes import Reply
from services.registration.handlers import SOURCE
from shared import auth
from shared.errors import Conflict, NotFound, RuleBroken

_INIT_LOCK = int.from_bytes(hashlib.sha256(b"cxc admin init").digest()[:8], "big", signed=True)
_REVOKE_LOCK = int.from_bytes(hashlib.sha256(b"api key revocation").digest()[:8], "big", signed=True)


def cluster_json(row) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "country": row["country"].strip(), "city": row["city"]}


def key_json(row) -> dict[str, Any]:
    return {
        "id": str(row["id"]), "cluster_id": row["cluster_id"], "role": row["role"], "prefix": row["prefix"],
        "label": row["label"], "created_at": row["created_at"].isoformat(),
        "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None,
    }


# --- clusters ------------------------------------------------------------------------------------


async def create_cluster(conn: asyncpg.Connection, body: ClusterIn) -> Reply:
    if not await repository.add_cluster(conn, body.id, body.name, body.country, body.city):
        raise Conflict(f"Cluster {body.id!r} already exists; change it with PATCH /v1/clusters/{body.id}")
    return Reply(201, cluster_json(await repository.cluster(conn, body.id)), f"/v1/clusters/{body.id}")


async def update_cluster(conn: asyncpg.Connection, cluster_id: str, patch: ClusterPatch) -> Reply:
    row = await repository.update_cluster(conn, cluster_id, patch.model_dump(exclude_none=True))
    if row is None:
        raise NotFound.of("cluster", cluster_id)
    return Reply(200, cluster_json(row))


async def put_cluster(conn: asyncpg.Connection, body: ClusterIn) -> str:
    """Create or bring up to date; return 'created', 'updated' or 'unchanged'."""
    row = await repository.cluster(conn, body.id)
    if row is None:
        await create_cluster(conn, body)
        return "created"
    wanted = {"name": body.name, "country": body.country, "city": body.city}
    changes = {k: v for k, v in wanted.items() if cluster_json(row)[k] != v}
    if not changes:
        return "unchanged"
    await update_cluster(conn, body.id, ClusterPatch(**changes))
    return "updated"


# --- keys ----------------------------------------------------------------------------------------


async def issue_key(conn: asyncpg.Connection, body: KeyIn) -> Reply:
    if not await repository.cluster_exists(conn, body.cluster_id):
        raise RuleBroken(None, f"Cluster {body.cluster_id!r} does not exist; create it first (POST /v1/clusters)",
                         kind="unknown-cluster", title="Validation failed",
                         errors=[{"field": "cluster_id", "message": "no such cluster", "type": "unknown"}])
    key_id, key = await auth.issue_key(conn, body.cluster_id, body.role, body.label, source=SOURCE)
    row = await repository.api_key(conn, key_id)
    return Reply(201, {**key_json(row), "key": key}, f"/v1/keys/{key_id}")


async def list_keys(conn: asyncpg.Connection, cluster_id: str | None, role: str | None,
                    include_revoked: bool) -> list[dict[str, Any]]:
    rows = await auth.list_keys(conn, cluster_id)
    return [key_json(r) for r in rows
            if (role is None or r["role"] == role) and (include_revoked or r["revoked_at"] is None)]


async def _active_key(conn: asyncpg.Connection, key_id: str):
    row = await repository.api_key(conn, key_id, lock=True)
    if row is None or row["revoked_at"] is not None:
        raise NotFound.of("active key", key_id)
    return row


async def revoke_key(conn: asyncpg.Connection, key_id: str) -> Reply:
    # One revocation at a time: two at once (coordinators revoking each other) could each see the other's key
    # still active and together leave none.
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _REVOKE_LOCK)
    row = await _active_key(conn, key_id)
    if row["role"] == "coordinator" and await repository.active_coordinator_keys(conn) <= 1:
        raise Conflict("This is the last active coordinator key: revoking it would lock every coordinator "
                       "out. Rotate it instead (POST /v1/keys/{id}/rotate), or issue another one first.",
                       kind="last-coordinator-key")
    await auth.revoke_key(conn, key_id, source=SOURCE)
    return Reply(200, key_json(await repository.api_key(conn, key_id)))


async def rotate_key(conn: asyncpg.Connection, key_id: str) -> Reply:
    """A new key for the same cluster, role and label, and the old one revoked, in one transaction."""
    row = await _active_key(conn, key_id)
    reply = await issue_key(conn, KeyIn(cluster_id=row["cluster_id"], role=row["role"], label=row["label"]))
    await auth.revoke_key(conn, key_id, source=SOURCE)
    reply.body["replaces"] = key_id
    return reply


# --- bootstrap -----------------------------------------------------------------------------------


@dataclass
class InitResult:
    programme: str  # 'created', 'updated' or 'unchanged'
    clusters: dict[str, str] = field(default_factory=dict)  # id → created/updated/unchanged
    key: dict[str, Any] | None = None  # the first coordinator key (with the secret), if issued now
    existing_coordinator_keys: list[dict[str, Any]] = field(default_factory=list)


async def init_programme(conn: asyncpg.Connection, body: ProgrammeIn) -> InitResult:
    """Idempotent bootstrap of a fresh deployment; the caller owns the transaction.

    Serialised by a transaction-scoped advisory lock so two operators running it at once cannot both
    issue a "first" coordinator key."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _INIT_LOCK)
    result = InitResult(programme="unchanged")
    for cluster in body.clusters:
        result.clusters[cluster.id] = await put_cluster(conn, cluster)
    if not await repository.cluster_exists(conn, body.coordinator_cluster):
        raise RuleBroken(None, f"The coordinator cluster {body.coordinator_cluster!r} is neither given nor known; "
                               "add it with --cluster", kind="unknown-cluster", title=None)
    result.programme = await repository.put_programme(conn, body.name, body.coordinator_cluster)
    active = [k for k in await list_keys(conn, None, "coordinator", False)]
    if active:
        result.existing_coordinator_keys = active
    else:
        reply = await issue_key(conn, KeyIn(cluster_id=body.coordinator_cluster, role="coordinator",
                                            label="first coordinator key (cxc admin init)"))
        result.key = reply.body
    return result
