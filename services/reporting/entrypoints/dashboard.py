"""``GET /``: the scoreboard at a glance for the programme coordinator, rendered on the server.

Charts are inline SVG (see charts.py): the page needs no JavaScript and downloads nothing else. Every
number carries ``data-kpi`` (its dotted path in ``GET /v1/kpis``) and ``data-value`` (the raw number),
which is what the browser test compares with the API.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.reporting.domain import disclosure, kpis
from services.reporting.domain.facts import FactBook
from services.reporting.entrypoints import charts
from services.reporting.entrypoints.api import PUBLIC, ClusterQ, allowed_cluster, load_book, visible_board
from shared.auth import OptionalCallerDep, public
from shared.openapi import problems

router = APIRouter(tags=["dashboard"])

STATUS_ORDER = ("applied", "approved", "completed", "cancelled")


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return f"{value:,}".replace(",", "\u202f")


def tile(label: str, path: str, value: Any, note: str = "", unit: str = "") -> str:
    raw = "" if value is None else value
    return (f'<div class="tile"><div class="label">{escape(label)}</div>'
            f'<div class="value"><span data-kpi="{path}" data-value="{raw}">{_num(value)}</span>{unit}</div>'
            f'<div class="note">{note}</div></div>')


def table(title: str, prefix: str, values: dict[str, Any]) -> str:
    if not values:
        return f'<section class="card"><h3>{escape(title)}</h3><p class="empty">None yet.</p></section>'
    rows = "".join(f'<tr><td>{escape(k.replace("_", " "))}</td><td class="n" data-kpi="{prefix}.{escape(k)}" '
                   f'data-value="{v}">{_num(v)}</td></tr>' for k, v in values.items())
    return f'<section class="card"><h3>{escape(title)}</h3><table>{rows}</table></section>'


def exchanges_over_time(book: FactBook, cluster: str | None, audience: str = "full") -> str:
    start = kpis.programme_start(book)
    # Suppressed months (fewer than 5 exchanges behind them) count as 0 on the line.
    series = [{**p, "value": p["value"] or 0} for p in
              disclosure.timeseries(kpis.timeseries(book, "exchanges", "month", cluster), audience)["points"]]
    if start is None or not series:
        return charts.progress_line([], [], [], "Exchanges over time")
    first = min(start, series[0]["period"])
    last_data = series[-1]["period"]
    y, m = int(first[:4]), int(first[5:7])
    months = []
    while len(months) < 24 or months[-1] < last_data:
        months.append(f"{y}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    per = {p["period"]: p["value"] for p in series}
    cumulative, running = [], 0
    for month in months:
        running += per.get(month, 0)
        cumulative.append(running)
        if month == last_data:
            break
    targets = [] if cluster else [(month - 1, value, f"M{month}: {value}") for month, value in kpis.TARGETS]
    return charts.progress_line(months, cumulative, targets, "Exchanges over time, cumulative, against the programme targets")


def _shown(values: dict[str, Any]) -> dict[str, Any]:
    """Chart series without suppressed cells (the tables and tiles show them as "–")."""
    return {k: v for k, v in values.items() if v is not None}


def render(book: FactBook, board: dict[str, Any], cluster: str | None, clusters: list[str],
           audience: str = "full") -> str:
    x, p, m, s = board["exchanges"], board["participants"], board["meetings"], board["satisfaction"]
    lump = board["lump_sums_eur"]
    target = kpis.TARGETS[-1][1]
    rate = m["acceptance_rate"]
    tiles = "".join([
        tile("Exchanges", "exchanges.total", x["total"], f"approved, not cancelled{'' if cluster else f' · target {target}'}"),
        tile("of which SMEs", "exchanges.smes", x["smes"], f"cluster staff: {_num(x['cluster_staff'])}"),
        tile("Participants", "participants.total", p["total"], f"{len(p['by_cluster'])} clusters"),
        tile("Countries reached", "countries_reached", board["countries_reached"]),
        tile("B2B meetings held", "meetings.held", m["held"],
             "no meeting requests yet" if rate is None else f"of {_num(m['requested'])} requested · {rate * 100:.0f}% accepted"),
        tile("Satisfaction", "satisfaction.average", s["average"], f"{_num(s['responses'])} closing reports", " / 5"),
        tile("Lump sums committed", "lump_sums_eur.committed", lump["committed"], "", " €"),
        tile("Lump sums paid", "lump_sums_eur.paid", lump["paid"], "after the closing report", " €"),
    ])
    statuses = {k: x["by_status"].get(k, 0) for k in STATUS_ORDER if k in x["by_status"]}
    clusters_all = sorted(set(x["by_sending_cluster"]) | set(x["by_host_cluster"]))
    funnel = charts.hbars(
        [(label, m[label], f"meetings.{label}") for label in ("requested", "accepted", "scheduled", "held")
         if m[label] is not None],
        "Meetings funnel", colour=charts.PALETTE[2])
    satisfaction = charts.hbars(
        [(f"{'★' * int(score)} ({score})", n, f"satisfaction.distribution.{score}") for score, n in
         sorted(s["distribution"].items(), reverse=True) if n is not None],
        "Satisfaction of closing reports", colour=charts.PALETTE[6])
    by_cluster = charts.grouped_hbars(
        [c for c in clusters_all if x["by_sending_cluster"].get(c) is not None or x["by_host_cluster"].get(c) is not None],
        [("sent", _shown(x["by_sending_cluster"]), "exchanges.by_sending_cluster"),
         ("hosted", _shown(x["by_host_cluster"]), "exchanges.by_host_cluster")],
        "Exchanges by cluster")
    options = "".join(f'<option value="{escape(c)}"{" selected" if c == cluster else ""}>{escape(c)}</option>'
                      for c in clusters)
    as_of = board["as_of"]
    scope = f"cluster {escape(cluster)}" if cluster else "whole programme"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ClusterXchange scoreboard</title><style>{CSS}</style></head>
<body>
<header><div><h1>ClusterXchange · programme scoreboard</h1>
<p class="sub">{scope} · {_num(as_of['events_applied'])} events · last event
<time data-kpi="as_of.last_event_time">{escape((as_of['last_event_time'] or '–')[:16].replace('T', ' '))}</time> UTC</p></div>
<form method="get" action="/"><label>Cluster <select name="cluster" onchange="this.form.submit()">
<option value="">whole programme</option>{options}</select></label> <button type="submit">Show</button>
<a href="/v1/kpis.csv{f'?cluster={escape(cluster)}' if cluster else ''}">CSV</a> <a href="/stream">Live events</a></form>
</header>
<main>
<section class="tiles">{tiles}</section>
<section class="card wide"><h2>Exchanges over time</h2>{exchanges_over_time(book, cluster, audience)}
<p class="legend"><span class="swatch a"></span>approved exchanges, cumulative by start month
{'' if cluster else '<span class="swatch b"></span>programme targets: 38 by month 12, 60 by month 18, 98 by month 24'}</p></section>
<div class="grid">
<section class="card"><h2>Exchanges by cluster</h2>{by_cluster}</section>
<section class="card"><h2>Meetings funnel</h2>{funnel}
<p class="legend">acceptance rate <strong data-kpi="meetings.acceptance_rate" data-value="{'' if rate is None else rate}">
{'–' if rate is None else f'{rate * 100:.1f} %'}</strong> · declined <span data-kpi="meetings.declined"
data-value="{'' if m['declined'] is None else m['declined']}">{_num(m['declined'])}</span></p></section>
<section class="card"><h2>Satisfaction</h2>{satisfaction}
<p class="legend">average <strong>{_num(s['average'])}</strong> / 5 from {_num(s['responses'])} closing reports</p></section>
</div>
<div class="grid small">
{table("Exchanges by kind", "exchanges.by_kind", x["by_kind"])}
{table("Exchanges by status", "exchanges.by_status", statuses)}
{table("Outcomes", "outcomes", board["outcomes"])}
{table("Participants by kind", "participants.by_kind", p["by_kind"])}
{table("Participants by country", "participants.by_country", p["by_country"])}
{table("Activities by kind", "activities.by_kind", board["activities"]["by_kind"])}
</div>
</main></body></html>"""


CSS = """
*{box-sizing:border-box}body{margin:0;font:15px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2733;
background:#f3f5f8}header{display:flex;justify-content:space-between;align-items:flex-end;flex-wrap:wrap;gap:12px;
padding:18px 28px;background:#12355b;color:#fff}h1{margin:0;font-size:24px}.sub{margin:4px 0 0;color:#c9d6e6}
header form{display:flex;gap:10px;align-items:center}header a{color:#fff}select,button{font:inherit;padding:4px 8px}
main{padding:20px 28px;max-width:1400px;margin:auto}.tiles{display:grid;grid-template-columns:repeat(4,1fr);gap:14px}
.tile{background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.tile .label{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:#5b6770}
.tile .value{font-size:34px;font-weight:700;color:#12355b}.tile .note{font-size:13px;color:#5b6770;min-height:18px}
.card{background:#fff;border-radius:8px;padding:14px 18px;margin-top:16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.card h2{margin:0 0 10px;font-size:17px}.card h3{margin:0 0 8px;font-size:15px}
.grid{display:grid;grid-template-columns:repeat(3,1fr);gap:16px}.grid .card{margin-top:16px}
.grid.small{grid-template-columns:repeat(6,1fr)}table{width:100%;border-collapse:collapse;font-size:14px}
td{padding:3px 0;border-bottom:1px solid #eef1f4}td.n{text-align:right;font-weight:600}
.legend{font-size:13px;color:#5b6770;margin:6px 0 0}.swatch{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;
vertical-align:-1px}.swatch.a{background:#1f5fa8}.swatch.b{background:#e07b24}.empty{color:#8a96a3}
@media (max-width:1100px){.tiles{grid-template-columns:repeat(2,1fr)}.grid,.grid.small{grid-template-columns:1fr 1fr}}
"""


@router.get("/", response_class=HTMLResponse, summary="The scoreboard dashboard", responses=problems(404))
@public(PUBLIC, when="public_scoreboard", optional_key=True)
async def dashboard(request: Request, who: OptionalCallerDep, cluster: ClusterQ = None) -> HTMLResponse:
    """Browsers sign in first (``/signin``, or a one-time link from ``POST /v1/dashboard-links``): the
    session cookie stands for the key. Each role sees what it may read through the API."""
    cluster = allowed_cluster(who, cluster)
    book = await load_book(request)
    board = await visible_board(request, who, cluster, book=book)
    audience = disclosure.audience_of(who and who.role)
    if audience == "full":
        everyone = kpis.scoreboard(book)
        clusters = sorted(set(everyone["participants"]["by_cluster"]) | set(everyone["exchanges"]["by_sending_cluster"])
                          | set(everyone["exchanges"]["by_host_cluster"]))
    else:
        clusters = [who.cluster_id] if who is not None else []
    return HTMLResponse(render(book, board, cluster, clusters, audience), headers={"Cache-Control": "no-store"})
