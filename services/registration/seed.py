"""The six EXCITE partner clusters and the dev API keys of the embedded stack."""

from __future__ import annotations

import asyncpg

from services.registration.adapters import repository
from services.registration.handlers import SOURCE
from shared import auth

PARTNERS = [
    # id, name, country, city
    ("silicon-saxony", "Silicon Saxony", "DE", "Dresden"),
    ("pole-scs", "Pôle SCS", "FR", "Sophia Antipolis"),
    ("mazovia-ict", "Mazovia Cluster ICT", "PL", "Warsaw"),
    ("business-hive-vilnius", "Business Hive Vilnius", "LT", "Vilnius"),
    ("cdti-sofia", "Cluster for Digital Transformation and Innovations", "BG", "Sofia"),
    ("gaia", "GAIA", "ES", "San Sebastián"),
]
COORDINATOR_CLUSTER = "silicon-saxony"


async def seed_clusters(conn: asyncpg.Connection) -> None:
    for cid, name, country, city in PARTNERS:
        await repository.add_cluster(conn, cid, name, country, city)


async def dev_keys(conn: asyncpg.Connection, known: dict[str, str] | None) -> dict[str, str]:
    """Reuse the dev keys from a previous start if they are all still valid, else issue a fresh set.

    Returns {"coordinator": key, "ops": key, "<cluster id>": partner key, ...}.
    """
    wanted = ["coordinator", "ops", *(p[0] for p in PARTNERS)]
    if known and set(known) >= set(wanted):
        valid = [await auth.find_key(conn, known[name]) is not None for name in wanted]
        if all(valid):
            return {name: known[name] for name in wanted}
    async with conn.transaction():
        keys = {
            "coordinator": await _issue(conn, COORDINATOR_CLUSTER, "coordinator", "dev coordinator"),
            "ops": await _issue(conn, COORDINATOR_CLUSTER, "ops", "dev ops"),
        }
        for cid, *_ in PARTNERS:
            keys[cid] = await _issue(conn, cid, "partner", f"dev partner {cid}")
    return keys


async def _issue(conn: asyncpg.Connection, cluster_id: str, role: str, label: str) -> str:
    return (await auth.issue_key(conn, cluster_id, role, label, source=SOURCE))[1]
