"""The reporting projection through a real broker, consumer and PostgreSQL: known truth, CSV, time series,
and rebuilds (from topics, from outboxes) that equal the live projection."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest

from services.reporting.adapters import projection
from services.reporting.bootstrap import build
from services.reporting.rebuild import RebuildRefused, rebuild
from services.reporting.settings import ReportingSettings
from shared import auth as api_keys
from shared.db import create_pool, migrate
from shared.events.topics import topic_specs
from shared.messaging.kafka import ensure_topics
from tests.reporting_history import generate
from tests.support.polling import eventually
from tests.support.topics import produce

pytestmark = pytest.mark.integration


@pytest.fixture
async def reporting(database_url, kafka_bootstrap, topic_namespace):
    await ensure_topics(kafka_bootstrap, topic_specs(), namespace=topic_namespace)
    settings = ReportingSettings(database_url=database_url, kafka_bootstrap=kafka_bootstrap,
                                 consumer_session_timeout_ms=6000)
    service = build(settings)
    app = service.app()
    await service.start()
    async with service.pool.acquire() as conn:
        coordinator = (await api_keys.issue_key(conn, "silicon-saxony", "coordinator", None, source="/test"))[1]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                 headers={"Authorization": f"Bearer {coordinator}"}) as client:
        client.service = service
        client.settings = settings
        yield client
    await service.stop()


async def applied(client, n: int) -> dict:
    async def check():
        board = (await client.get("/v1/kpis")).json()
        return board if board["as_of"]["events_applied"] >= n else None

    return await eventually(check, timeout=40)


async def facts_rows(client) -> list:
    rows = await client.service.pool.fetch("SELECT aggregate, id, data::text AS data FROM facts ORDER BY 1, 2")
    return [(r["aggregate"], r["id"], json.loads(r["data"])) for r in rows]


async def applied_rows(client) -> list:
    return [tuple(r) for r in await client.service.pool.fetch(
        "SELECT event_id, event_type, event_time FROM applied_events ORDER BY 1")]


async def test_shuffled_history_through_the_broker_gives_the_known_scoreboard_and_a_rebuild_equals_it(reporting):
    history = generate()
    await produce(reporting.settings.kafka_bootstrap, history.delivery, linger_ms=0, namespace=reporting.settings.namespace)
    board = await applied(reporting, len(history.envelopes))
    assert board == history.truth
    assert (await reporting.get("/v1/kpis", params={"cluster": "gaia"})).json() == history.truth_gaia

    # CSV carries exactly the JSON's numbers
    r = await reporting.get("/v1/kpis.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["metric", "value"]
    from_csv = {path: value for path, value in rows[1:]}
    assert from_csv["exchanges.total"] == str(history.truth["exchanges"]["total"])
    assert from_csv["exchanges.by_kind.sme_exchange"] == str(history.truth["exchanges"]["by_kind"]["sme_exchange"])
    flat = _flatten(history.truth)
    assert from_csv == {k: "" if v is None else str(v) for k, v in flat.items()}

    # time series add up to the scoreboard
    r = await reporting.get("/v1/kpis/timeseries", params={"metric": "exchanges", "interval": "quarter"})
    assert r.status_code == 200
    assert r.json()["points"][-1]["cumulative"] == history.truth["exchanges"]["total"]

    # the projection is idempotent by itself too, not only behind the runner's dedupe marker
    async with reporting.service.pool.acquire() as conn, conn.transaction():
        assert not any([await projection.apply(conn, e) for e in history.delivery])
    assert (await reporting.get("/v1/kpis")).json() == history.truth

    live_facts, live_applied = await facts_rows(reporting), await applied_rows(reporting)
    result = await rebuild(reporting.settings, source="topics")
    assert result.events == len(history.envelopes) == result.previous_events
    assert await facts_rows(reporting) == live_facts
    assert await applied_rows(reporting) == live_applied
    assert (await reporting.get("/v1/kpis")).json() == history.truth


async def test_rebuild_repairs_a_damaged_projection_and_the_live_consumer_goes_on(reporting):
    history = generate(participants=18, exchanges=8, meetings=6)
    first, rest = history.envelopes[:60], history.envelopes[60:]
    await produce(reporting.settings.kafka_bootstrap, first, linger_ms=0, namespace=reporting.settings.namespace)
    await applied(reporting, len(first))
    live = await facts_rows(reporting)
    await reporting.service.pool.execute("DELETE FROM facts WHERE aggregate = 'participant'")
    # the scoreboard sums the projection keeps lose them too
    await reporting.service.pool.execute("DELETE FROM kpi_cells WHERE metric = 'p' OR metric LIKE 'p.%'")
    assert (await reporting.get("/v1/kpis")).json()["participants"]["total"] == 0

    await rebuild(reporting.settings, source="topics")
    assert await facts_rows(reporting) == live

    await produce(reporting.settings.kafka_bootstrap, rest, linger_ms=0, namespace=reporting.settings.namespace)
    assert await applied(reporting, len(history.envelopes)) == history.truth


async def test_rebuild_from_the_outboxes_and_refusal_while_they_lack_applied_events(reporting, database_url):
    history = generate(participants=18, exchanges=8, meetings=6)
    await produce(reporting.settings.kafka_bootstrap, history.envelopes, linger_ms=0, namespace=reporting.settings.namespace)
    before = await applied(reporting, len(history.envelopes))
    live = await facts_rows(reporting)

    # no outbox holds these events yet: an incomplete history is refused and changes nothing
    with pytest.raises(RebuildRefused, match="not among them"):
        await rebuild(reporting.settings, source="outboxes")
    assert (await reporting.get("/v1/kpis")).json() == before

    # the events as the producing services retained them: their outbox rows (shared runtime migration)
    pool = await create_pool(database_url, "registration")
    try:
        await migrate(pool, "registration", None)
        for e in history.envelopes:
            await pool.execute(
                "INSERT INTO outbox (event_id, topic, key, event_type, envelope, published_at) "
                "VALUES ($1, $2, $3, $4, $5::jsonb, now())",
                e.id, e.topic.name, e.subject, e.type, e.model_dump_json())
    finally:
        await pool.close()
    await reporting.service.pool.execute("UPDATE facts SET data = '{}'")

    result = await rebuild(reporting.settings, source="outboxes")
    assert result.events == len(history.envelopes)
    assert await facts_rows(reporting) == live


def _flatten(board, prefix=""):
    out = {}
    for k, v in board.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
