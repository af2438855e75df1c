"""The projection tables: facts per aggregate and the set of applied events (reads and writes)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta

import asyncpg

from services.reporting.domain import cells
from services.reporting.domain.facts import FactBook, Facts, aggregate_of, merge, utc
from services.reporting.domain.kpis import Scope
from shared.events.envelope import Envelope

TABLES = ("facts", "applied_events")


async def apply(conn: asyncpg.Connection, envelope: Envelope) -> bool:
    """Fold one event into the facts of its aggregate and the scoreboard, inside the caller's transaction;
    False if the projection already holds it (its effect is convergent anyway; this keeps
    ``events_applied`` exact)."""
    return await apply_many(conn, [envelope]) > 0


async def apply_many(conn: asyncpg.Connection, envelopes: list[Envelope]) -> int:
    """Fold a batch into the facts and the scoreboard sums in a handful of statements: the same merge, in
    the same order, so the facts equal applying the events one by one; the sums move by the difference
    between the old and new contributions of every aggregate whose facts (or participant) changed.
    Returns how many events were new to the projection."""
    if not envelopes:
        return 0
    # The summary row serialises the projection's writers (replicas consuming other partitions, the
    # single-event path): the deltas below read participants that another batch might be changing.
    if not await conn.fetchval("SELECT cells_ready FROM projection_summary FOR UPDATE"):
        await _fill_cells(conn)
    fresh_ids = {
        str(r["event_id"])
        for r in await conn.fetch(
            """INSERT INTO applied_events (event_id, event_type, event_time)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[])
               ON CONFLICT DO NOTHING RETURNING event_id""",
            [e.id for e in envelopes], [e.type for e in envelopes], [e.time for e in envelopes],
        )
    }
    todo = []
    for e in envelopes:
        if e.id in fresh_ids:
            fresh_ids.discard(e.id)
            payload = e.payload()
            todo.append((aggregate_of(e.type, payload), e, payload))
    if not todo:
        return 0
    keys = sorted({agg for agg, _, _ in todo})  # a fixed lock order keeps concurrent writers deadlock-free
    aggregates, ids = [k[0] for k in keys], [k[1] for k in keys]
    await conn.execute(
        """INSERT INTO facts (aggregate, id, data) SELECT a, i, '{}' FROM unnest($1::text[], $2::text[]) AS u(a, i)
           ON CONFLICT DO NOTHING""",
        aggregates, ids,
    )
    rows = await conn.fetch(
        """SELECT f.aggregate, f.id, f.data, f.cells FROM facts f
           JOIN unnest($1::text[], $2::text[]) AS u(a, i) ON f.aggregate = u.a AND f.id = u.i
           ORDER BY f.aggregate, f.id FOR UPDATE OF f""",
        aggregates, ids,
    )
    data = {(r["aggregate"], r["id"]): json.loads(r["data"]) for r in rows}
    old = {(r["aggregate"], r["id"]): r["cells"] for r in rows}
    for key, envelope, payload in todo:
        data[key] = merge(data[key], envelope.type, payload, envelope.time, envelope.id)
    changed = set(keys)

    # A participant's kind and cluster are part of its exchanges' and meetings' contributions.
    moved = [i for a, i in keys if a == "participant"]
    if moved:
        for r in await conn.fetch(
            """SELECT aggregate, id, data, cells FROM facts WHERE aggregate = 'exchange' AND data->>'participant_id' = ANY($1)
               UNION SELECT aggregate, id, data, cells FROM facts WHERE aggregate = 'meeting' AND data->>'requester_id' = ANY($1)
               UNION SELECT aggregate, id, data, cells FROM facts WHERE aggregate = 'meeting' AND data->>'target_id' = ANY($1)""",
            moved,
        ):
            key = (r["aggregate"], r["id"])
            if key not in data:
                data[key], old[key] = json.loads(r["data"]), r["cells"]
    named = {p for (a, _), f in data.items() for p in cells.participants_named(a, f)}
    people = {i: f for (a, i), f in data.items() if a == "participant"}
    missing = sorted(named - people.keys())
    if missing:
        for r in await conn.fetch("SELECT id, data FROM facts WHERE aggregate = 'participant' AND id = ANY($1)", missing):
            people[r["id"]] = json.loads(r["data"])

    affected = sorted(old)
    new = {key: cells.contributions(key[0], data[key], people) for key in affected}
    sums: Counter = Counter()
    for key in affected:
        sums.update(cells.delta(_cells(old[key]), new[key]))
    await conn.execute(
        """UPDATE facts f SET data = coalesce(u.d::jsonb, f.data), cells = u.c::jsonb
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(a, i, d, c)
           WHERE f.aggregate = u.a AND f.id = u.i""",
        [k[0] for k in affected], [k[1] for k in affected],
        [json.dumps(data[k]) if k in changed else None for k in affected], [json.dumps(new[k]) for k in affected],
    )
    await _add_sums(conn, sums)
    await conn.execute(
        "UPDATE projection_summary SET events_applied = events_applied + $1, last_event_time = greatest(last_event_time, $2)",
        len(todo), max(e.time for _, e, _ in todo),
    )
    return len(todo)


def _cells(stored: str | None) -> list[cells.Cell]:
    return [tuple(c) for c in json.loads(stored)] if stored else []


# grain 'a' (all time) is stored under a fixed day that no period filter reaches.
ALL_TIME, LAST_DAY = date(1, 1, 1), date(9999, 12, 31)


def _by_grain(sums: Counter) -> list[tuple[str, str, date, str, str, int]]:
    out: Counter = Counter()
    for (cluster, day, metric, key), n in sums.items():
        if not n:
            continue
        out[(cluster, "a", ALL_TIME, metric, key)] += n
        if day:
            d = date.fromisoformat(day)
            out[(cluster, "m", d.replace(day=1), metric, key)] += n
            out[(cluster, "d", d, metric, key)] += n
    return sorted((*k, n) for k, n in out.items() if n)


async def _add_sums(conn: asyncpg.Connection, sums: Counter) -> None:
    rows = _by_grain(sums)
    if rows:
        await conn.execute(
            """INSERT INTO kpi_cells (cluster, grain, day, metric, key, n)
               SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::text[], $6::bigint[])
               ON CONFLICT (cluster, grain, day, metric, key) DO UPDATE SET n = kpi_cells.n + EXCLUDED.n""",
            *(list(column) for column in zip(*rows, strict=True)),
        )


def _all_contributions(aggregates: dict[str, dict[str, Facts]]) -> dict[tuple[str, str], list[cells.Cell]]:
    people = aggregates.get("participant", {})
    return {(a, i): cells.contributions(a, f, people) for a, table in aggregates.items() for i, f in table.items()}


async def _replace_sums(conn: asyncpg.Connection, contributed: dict[tuple[str, str], list[cells.Cell]]) -> None:
    sums: Counter = Counter()
    for cs in contributed.values():
        sums.update(cells.delta((), cs))
    await conn.execute("DELETE FROM kpi_cells")
    await conn.copy_records_to_table("kpi_cells", records=_by_grain(sums),
                                     columns=["cluster", "grain", "day", "metric", "key", "n"])
    await conn.execute("UPDATE projection_summary SET cells_ready = true")


async def _fill_cells(conn: asyncpg.Connection) -> None:
    """Once, for facts stored before the scoreboard was kept: every contribution, and the sums."""
    aggregates: dict[str, dict[str, Facts]] = {}
    for r in await conn.fetch("SELECT aggregate, id, data FROM facts"):
        aggregates.setdefault(r["aggregate"], {})[r["id"]] = json.loads(r["data"])
    contributed = _all_contributions(aggregates)
    keys = sorted(contributed)
    await conn.execute(
        """UPDATE facts f SET cells = u.c::jsonb FROM unnest($1::text[], $2::text[], $3::text[]) AS u(a, i, c)
           WHERE f.aggregate = u.a AND f.id = u.i""",
        [k[0] for k in keys], [k[1] for k in keys], [json.dumps(contributed[k]) for k in keys],
    )
    await _replace_sums(conn, contributed)


async def read_board(conn: asyncpg.Connection, scope: Scope) -> dict | None:
    """The scoreboard of ``scope`` from the kept sums: the all-time row of each (metric, key), or for a
    period its whole months plus the days at either end — a bounded read whatever the history's length.
    None while the sums have not been filled yet (call inside one repeatable-read transaction)."""
    summary = await conn.fetchrow("SELECT events_applied, last_event_time, cells_ready FROM projection_summary")
    if not summary["cells_ready"]:
        return None
    cluster = scope.cluster or cells.PROGRAMME
    if scope.start is None and scope.end is None:
        rows = await conn.fetch(
            "SELECT metric, key, n FROM kpi_cells WHERE cluster = $1 AND grain = 'a' AND day = $2", cluster, ALL_TIME)
    else:
        start, end = scope.start or ALL_TIME, scope.end or LAST_DAY
        # whole months in [months_from, months_to), the days before and after them from the day rows
        months_from = start if start.day == 1 else _next_month(start)
        last_of_month = end.month == 12 and end.day == 31 or (end + timedelta(days=1)).day == 1
        months_to = _next_month(end) if last_of_month and end.year < LAST_DAY.year else end.replace(day=1)
        if months_from >= months_to:  # no whole month inside: days only
            months_from = months_to = start
        rows = await conn.fetch(
            """SELECT metric, key, sum(n)::bigint AS n FROM kpi_cells
               WHERE cluster = $1 AND ((grain = 'm' AND day >= $2 AND day < $3)
                  OR (grain = 'd' AND day >= $4 AND day < $2) OR (grain = 'd' AND day >= $3 AND day <= $5))
               GROUP BY metric, key""",
            cluster, months_from, months_to, start, end,
        )
    last = summary["last_event_time"]
    return cells.board({(r["metric"], r["key"]): r["n"] for r in rows}, summary["events_applied"],
                       utc(last) if last else None)


def _next_month(d: date) -> date:
    return date(d.year + 1, 1, 1) if d.month == 12 else date(d.year, d.month + 1, 1)


async def load(conn: asyncpg.Connection) -> FactBook:
    """The whole projection as a FactBook (call inside one repeatable-read transaction)."""
    rows = await conn.fetch("SELECT aggregate, id, data FROM facts")
    summary = await conn.fetchrow("SELECT count(*) AS n, max(event_time) AS last FROM applied_events")
    last = summary["last"]
    return FactBook.stored(
        ((r["aggregate"], r["id"], json.loads(r["data"])) for r in rows), summary["n"], utc(last) if last else None
    )


def fact_records(book: FactBook) -> Iterable[tuple[str, str, str]]:
    for aggregate, table in book.aggregates.items():
        for key, facts in table.items():
            yield aggregate, key, json.dumps(facts)


async def lock(conn: asyncpg.Connection) -> None:
    """Hold off the live consumer's writes (readers go on) until the caller's transaction ends. The summary
    first: the consumer locks its row before anything else, so neither waits for the other in a cycle."""
    await conn.execute("LOCK TABLE projection_summary, facts, applied_events, kpi_cells IN EXCLUSIVE MODE")


async def replace_all(conn: asyncpg.Connection, book: FactBook) -> None:
    """Swap the projection for ``book`` in the caller's transaction: fresh tables are filled, then their
    contents replace the live ones. Readers see the old projection until the commit, then the new one."""
    await lock(conn)
    for table in TABLES:
        await conn.execute(f"CREATE TEMP TABLE {table}_rebuild (LIKE {table} INCLUDING ALL) ON COMMIT DROP")
    contributed = _all_contributions(book.aggregates)
    await conn.copy_records_to_table(
        "facts_rebuild", records=[(a, i, data, json.dumps(contributed[(a, i)])) for a, i, data in fact_records(book)],
        columns=["aggregate", "id", "data", "cells"])
    await conn.copy_records_to_table(
        "applied_events_rebuild",
        records=[(uuid.UUID(eid), etype, datetime.fromisoformat(t)) for eid, (t, etype) in book.applied.items()],
        columns=["event_id", "event_type", "event_time"],
    )
    for table in TABLES:
        await conn.execute(f"DELETE FROM {table}")
        await conn.execute(f"INSERT INTO {table} SELECT * FROM {table}_rebuild")
    await _replace_sums(conn, contributed)
    await conn.execute(
        "UPDATE projection_summary SET events_applied = (SELECT count(*) FROM applied_events),"
        " last_event_time = (SELECT max(event_time) FROM applied_events)")
