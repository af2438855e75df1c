"""The scoreboard the projection keeps in PostgreSQL equals the reference fold (kpis.scoreboard) of the same
facts, whatever the arrival order, the repeats and the batching, for the programme, each cluster and any
period (whole months, edge days, days only)."""

from __future__ import annotations

import asyncio
import random
from datetime import date, timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from services.reporting.adapters import projection
from services.reporting.domain.facts import FactBook
from services.reporting.domain.kpis import Scope, scoreboard
from shared.db import create_pool, migrate
from shared.events.catalogue import ParticipantUpdated, Profile
from shared.events.envelope import Envelope
from tests.reporting_history import CLUSTERS, START, generate

pytestmark = pytest.mark.integration


def _history() -> list[Envelope]:
    h = generate(seed=11, participants=14, exchanges=7, meetings=8)
    # Participants moving to another cluster: their meetings must move with them in the kept sums.
    movers = [e.payload() for e in h.envelopes if e.type == "participant.registered"][:3]
    for i, p in enumerate(movers):
        h.emit(ParticipantUpdated(participant_id=p.participant_id, changed=("cluster_id",), profile=Profile(
            cluster_id="gaia" if p.profile.cluster_id != "gaia" else "pole-scs", kind=p.profile.kind,
            name="Org", country=p.profile.country)), START + timedelta(days=200 + i))
    return h.envelopes


HISTORY = _history()
DAYS = (START.date() - timedelta(days=10), START.date() + timedelta(days=500))


def fold(envelopes) -> FactBook:
    book = FactBook()
    for e in envelopes:
        book.apply(e.type, e.payload(), e.time, e.id)
    return book


REFERENCE = fold(HISTORY)
day = st.integers(0, (DAYS[1] - DAYS[0]).days).map(lambda n: DAYS[0] + timedelta(days=n))


def scopes(drawn: list[tuple[date, date]]) -> list[Scope]:
    out = [Scope(), *(Scope(cluster=c) for c in CLUSTERS), Scope(cluster="nobody")]
    for a, b in drawn:
        start, end = min(a, b), max(a, b)
        out += [Scope(start=start, end=end), Scope(start=start), Scope(end=end), Scope(cluster="gaia", start=start, end=end)]
    # whole months, a month's edges, one day
    out += [Scope(start=date(2025, 2, 1), end=date(2025, 3, 31)), Scope(start=date(2025, 2, 28), end=date(2025, 3, 1)),
            Scope(start=date(2025, 3, 5), end=date(2025, 3, 5)), Scope(start=date(2025, 1, 31), end=date(2025, 12, 31))]
    return out


async def _reset(conn: asyncpg.Connection) -> None:
    await conn.execute("DELETE FROM facts; DELETE FROM applied_events; DELETE FROM kpi_cells;"
                       " UPDATE projection_summary SET events_applied = 0, last_event_time = NULL")


async def _kept(conn: asyncpg.Connection, scope: Scope) -> dict | None:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await projection.read_board(conn, scope)


@pytest.fixture
def schema_url(database_url) -> str:
    async def prepare():
        pool = await create_pool(database_url, "reporting", min_size=1, max_size=1)
        try:
            await migrate(pool, "reporting", "services.reporting.migrations")
        finally:
            await pool.close()

    asyncio.run(prepare())
    return database_url


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), drawn=st.lists(st.tuples(day, day), min_size=1, max_size=2))
def test_kept_scoreboard_equals_the_reference_fold_for_any_order_repeats_and_batches(schema_url, seed, drawn):
    rnd = random.Random(seed)
    delivery = HISTORY + rnd.sample(HISTORY, len(HISTORY) // 4)  # every event, a quarter of them twice
    rnd.shuffle(delivery)

    async def run():
        pool = await create_pool(schema_url, "reporting", min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                await _reset(conn)
                i = 0
                while i < len(delivery):
                    size = rnd.choice([1, 1, 3, 17, 60])
                    async with conn.transaction():
                        if size == 1:
                            await projection.apply(conn, delivery[i])
                        else:
                            await projection.apply_many(conn, delivery[i:i + size])
                    i += size
                for scope in scopes(drawn):
                    assert await _kept(conn, scope) == scoreboard(REFERENCE, scope), scope
        finally:
            await pool.close()

    asyncio.run(run())


async def test_sums_missing_after_an_upgrade_are_filled_before_the_next_batch(schema_url):
    pool = await create_pool(schema_url, "reporting", min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            head, last = HISTORY[:-1], HISTORY[-1]
            async with conn.transaction():
                await projection.apply_many(conn, head)
            # what migration 003 finds in a projection that predates it: facts without sums
            await conn.execute("DELETE FROM kpi_cells; UPDATE facts SET cells = '[]';"
                               " UPDATE projection_summary SET cells_ready = false")
            assert await _kept(conn, Scope()) is None  # the API folds the facts meanwhile
            async with conn.transaction():
                await projection.apply_many(conn, [last])
            for scope in scopes([(date(2025, 2, 10), date(2025, 8, 20))]):
                assert await _kept(conn, scope) == scoreboard(REFERENCE, scope), scope
    finally:
        await pool.close()
