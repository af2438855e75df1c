"""Who reads what of the scoreboard (issue 13, point 2): coordinators everything; partners the programme
totals and their own cluster with small cells suppressed; anonymous readers only when the public scoreboard
is switched on, programme level; browsers through a session cookie."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from services.reporting.adapters import projection
from services.reporting.domain import kpis
from services.reporting.domain.disclosure import THRESHOLD
from services.reporting.domain.facts import FactBook
from shared import auth as api_keys
from tests.reporting_history import generate
from tests.support.inprocess import key, serving

pytestmark = pytest.mark.integration

CLUSTER_MAPS = [("exchanges", "by_sending_cluster"), ("exchanges", "by_host_cluster"), ("participants", "by_cluster")]


@pytest.fixture(scope="module")
def history():
    return generate(participants=60, exchanges=30, meetings=20)


async def _load(api, history) -> FactBook:
    async with api.pool.acquire() as conn, conn.transaction():
        for e in history.delivery:
            await projection.apply(conn, e)
        return await projection.load(conn)


def _cells(board, path=()):
    """(dotted path, value) of every number in a scoreboard, as_of left out."""
    for k, v in board.items():
        here = (*path, k)
        if here[0] in ("as_of", "disclosure"):
            continue
        if isinstance(v, dict):
            yield from _cells(v, here)
        else:
            yield ".".join(here), v


def _no_small_cells(board) -> None:
    for path, value in _cells(board):
        if isinstance(value, int) and not isinstance(value, bool):
            assert value == 0 or value >= THRESHOLD or path.startswith("lump_sums_eur"), (path, value)


@pytest.fixture
async def reporting(database_url, history):
    async with serving("reporting", database_url) as api:
        api.book = await _load(api, history)
        yield api


async def test_coordinators_and_ops_read_everything_unsuppressed(reporting):
    truth = kpis.scoreboard(reporting.book)
    for who in ("coordinator", "ops"):
        assert (await reporting.get("/v1/kpis", headers=key(reporting, who))).json() == truth
        gaia = await reporting.get("/v1/kpis", params={"cluster": "gaia"}, headers=key(reporting, who))
        assert gaia.json() == kpis.scoreboard(reporting.book, kpis.Scope(cluster="gaia"))


async def test_a_partner_reads_programme_totals_and_only_its_own_cluster_breakdown(reporting):
    truth = kpis.scoreboard(reporting.book)
    board = (await reporting.get("/v1/kpis", headers=key(reporting, "a"))).json()
    assert board["exchanges"]["total"] == truth["exchanges"]["total"] >= THRESHOLD
    assert board["participants"]["total"] == truth["participants"]["total"]
    for section, name in CLUSTER_MAPS:
        assert set(board[section][name]) <= {"mazovia-ict"}, (section, name)
        assert any(c != "mazovia-ict" for c in truth[section][name]), "the truth has other clusters to hide"
    _no_small_cells(board)
    assert board["disclosure"] == {"audience": "partner", "suppressed_below": THRESHOLD}

    own = await reporting.get("/v1/kpis", params={"cluster": "mazovia-ict"}, headers=key(reporting, "a"))
    assert own.status_code == 200
    _no_small_cells(own.json())
    for path in ("/v1/kpis", "/v1/kpis.csv", "/"):
        r = await reporting.get(path, params={"cluster": "gaia"}, headers=key(reporting, "a"))
        assert r.status_code == 404, (path, r.status_code)
    r = await reporting.get("/v1/kpis/timeseries", params={"metric": "exchanges", "cluster": "gaia"},
                            headers=key(reporting, "a"))
    assert r.status_code == 404


async def test_small_cells_and_figures_derived_from_fewer_than_five_are_suppressed(reporting):
    truth = kpis.scoreboard(reporting.book)
    suppressed = [path for path, value in _cells(truth) if isinstance(value, int) and 0 < value < THRESHOLD]
    assert suppressed, "the history has small cells"
    board = (await reporting.get("/v1/kpis", headers=key(reporting, "a"))).json()
    flat = dict(_cells(board))
    for path in suppressed:
        if not path.startswith(("exchanges.by_sending_cluster", "exchanges.by_host_cluster", "participants.by_cluster")):
            assert flat[path] is None, path

    # One completed exchange isolated by a narrow date window: its satisfaction and lump sum stay hidden.
    closed = [x for x in reporting.book.aggregates["exchange"].values() if kpis.counts(x) and x.get("completion_v")]
    day = closed[0]["completed_on"][:10]
    window = {"from": day, "to": day}
    full = (await reporting.get("/v1/kpis", params=window, headers=key(reporting, "coordinator"))).json()
    assert 0 < full["satisfaction"]["responses"] < THRESHOLD and full["satisfaction"]["average"] is not None
    narrow = (await reporting.get("/v1/kpis", params=window, headers=key(reporting, "a"))).json()
    assert narrow["satisfaction"]["average"] is None and narrow["satisfaction"]["responses"] is None
    assert narrow["lump_sums_eur"]["paid"] is None
    assert all(v in (None, 0) for v in narrow["satisfaction"]["distribution"].values())
    start = closed[0]["start_date"] or day
    one_start = (await reporting.get("/v1/kpis", params={"from": start, "to": start},
                                     headers=key(reporting, "a"))).json()
    if 0 < kpis.scoreboard(reporting.book, kpis.Scope(start=date.fromisoformat(start[:10]),
                                                      end=date.fromisoformat(start[:10])))["exchanges"]["total"] < THRESHOLD:
        assert one_start["lump_sums_eur"]["committed"] is None

    # the CSV shows the same suppression (an empty value)
    rows = dict(csv.reader(io.StringIO((await reporting.get("/v1/kpis.csv", params=window,
                                                            headers=key(reporting, "a"))).text)))
    assert rows["satisfaction.average"] == "" and rows["lump_sums_eur.paid"] == ""


async def test_time_series_values_behind_fewer_than_five_items_are_suppressed_for_partners(reporting):
    params = {"metric": "lump_sums_paid", "interval": "month"}
    full = (await reporting.get("/v1/kpis/timeseries", params=params, headers=key(reporting, "coordinator"))).json()
    partner = (await reporting.get("/v1/kpis/timeseries", params=params, headers=key(reporting, "a"))).json()
    assert [p["period"] for p in full["points"]] == [p["period"] for p in partner["points"]]
    assert any(p["value"] for p in full["points"]), "some months have paid lump sums"
    for f, p in zip(full["points"], partner["points"]):
        assert "items" not in f and "items" not in p
        if p["value"] is None:
            assert f["value"], "only non-empty cells are suppressed"
    assert any(p["value"] is None for p in partner["points"]), "months with 1-4 paid exchanges are hidden"


async def test_without_a_key_the_scoreboard_is_closed_unless_the_public_scoreboard_is_on(database_url, history):
    async with serving("reporting", database_url) as closed:
        for path in ("/v1/kpis", "/v1/kpis.csv", "/"):
            assert (await closed.get(path)).status_code == 401
    async with serving("reporting", database_url, public_scoreboard=True) as api:
        book = await _load(api, history)
        board = (await api.get("/v1/kpis")).json()
        truth = kpis.scoreboard(book)
        assert board["exchanges"]["total"] == truth["exchanges"]["total"]
        for section, name in CLUSTER_MAPS:
            assert board[section][name] == {}, "programme level only"
        _no_small_cells(board)
        assert board["disclosure"]["audience"] == "public"
        assert (await api.get("/v1/kpis", params={"cluster": "mazovia-ict"})).status_code == 404
        assert (await api.get("/", params={"cluster": "gaia"})).status_code == 404
        assert (await api.get("/")).status_code == 200
        # a key still gets its own view, and a bad key is still refused
        assert "mazovia-ict" in (await api.get("/v1/kpis", headers=key(api, "a"))).json()["exchanges"]["by_sending_cluster"]
        assert (await api.get("/v1/kpis", headers={"Authorization": "Bearer cxc_nope"})).status_code == 401
        # the stream and the lag stay for ops
        assert (await api.get("/v1/stream/lag")).status_code == 401


async def test_a_browser_signs_in_with_a_one_time_link_and_the_cookie_only_reads(reporting):
    link = await reporting.post("/v1/dashboard-links", headers=key(reporting, "coordinator"))
    assert link.status_code == 201
    path = link.json()["path"]
    signed_in = await reporting.get(path)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
    cookie = signed_in.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert cookie.split(";")[0].split("=", 1)[1] not in reporting.keys.values(), "the cookie is not the key"
    session = {"Cookie": cookie.split(";")[0]}
    reporting.cookies.clear()

    page = await reporting.get("/", headers=session)
    assert page.status_code == 200 and 'data-kpi="exchanges.total"' in page.text
    assert (await reporting.get("/v1/kpis", params={"cluster": "gaia"}, headers=session)).status_code == 200
    assert (await reporting.get(path)).status_code == 404, "a link works once"
    # the cookie never authorises a write
    assert (await reporting.post("/v1/dashboard-links", headers=session)).status_code == 401
    # the form sign-in: a wrong key is refused, a right one gives a session
    assert (await reporting.post("/signin", data={"key": "cxc_wrong"})).status_code == 401
    form = await reporting.post("/signin", data={"key": reporting.keys["a"]})
    assert form.status_code == 303 and "samesite=strict" in form.headers["set-cookie"].lower()
    reporting.cookies.clear()
    # revoking the key ends its sessions
    key_id = await reporting.pool.fetchval("SELECT id::text FROM api_keys WHERE role = 'coordinator'")
    await reporting.pool.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1::uuid", key_id)
    assert (await reporting.get("/", headers=session)).status_code == 401
    assert api_keys.SESSION_COOKIE == "cxc_session"
