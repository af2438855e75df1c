"""The scoreboard API: JSON and CSV from the sums the projection keeps, time series from the facts.

Every role may read it, each as services/reporting/domain/disclosure.py says: coordinators and ops
everything; a partner the programme totals and its own cluster (``cluster=`` another cluster is 404),
small cells suppressed. With ``CXC_REPORTING_PUBLIC_SCOREBOARD=true`` the programme-level view is also
served without a key, small cells suppressed and no cluster breakdown.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.reporting.adapters import projection
from services.reporting.domain import disclosure, kpis
from services.reporting.domain.facts import FactBook
from services.reporting.entrypoints import schemas as out
from shared.auth import Caller, OptionalCallerDep, public
from shared.errors import Invalid, NotFound
from shared.openapi import ok, problems
from shared.service import pool_of

router = APIRouter(prefix="/v1", tags=["reporting"])

ClusterQ = Annotated[str | None, Query(description="Home cluster of participants and exchanges, host of activities")]
FromQ = Annotated[date | None, Query(alias="from", description="First day of the period (inclusive)")]
ToQ = Annotated[date | None, Query(alias="to", description="Last day of the period (inclusive)")]
Metric = Literal[kpis.METRICS]  # type: ignore[valid-type]


async def load_book(request: Request) -> FactBook:
    async with pool_of(request).acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return await projection.load(conn)


async def kept_board(request: Request, wanted: kpis.Scope) -> dict:
    """The scoreboard from the sums the projection keeps (a bounded read); folded from the facts only
    while those sums are being filled for the first time after an upgrade."""
    async with pool_of(request).acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        board = await projection.read_board(conn, wanted)
        return board if board is not None else kpis.scoreboard(await projection.load(conn), wanted)


PUBLIC = "the public scoreboard: programme level, small cells suppressed (CXC_REPORTING_PUBLIC_SCOREBOARD)"


def allowed_cluster(who: Caller | None, cluster: str | None) -> str | None:
    """The cluster filter this caller may use: any for coordinators and ops, its own for a partner, none
    for the anonymous public. Another cluster answers 404, as every other cluster-owned resource does."""
    cluster = cluster or None
    if cluster is not None and (who is None or not who.can_see(cluster)):
        raise NotFound(f"No scoreboard for cluster {cluster!r}")
    return cluster


def scope(cluster: str | None, start: date | None, end: date | None) -> kpis.Scope:
    if start and end and start > end:
        raise Invalid("from", "after 'to'", detail="'from' must not be after 'to'")
    return kpis.Scope(cluster=cluster or None, start=start, end=end)


async def visible_board(request: Request, who: Caller | None, cluster: str | None, start: date | None = None,
                        end: date | None = None, book: FactBook | None = None) -> dict:
    wanted = scope(allowed_cluster(who, cluster), start, end)
    board = kpis.scoreboard(book, wanted) if book is not None else await kept_board(request, wanted)
    return disclosure.scoreboard(board, disclosure.audience_of(who and who.role), who and who.cluster_id)


@router.get("/kpis", summary="The monitoring scoreboard", response_model=None,
            responses=ok(out.Scoreboard) | problems(404))
@public(PUBLIC, when="public_scoreboard", optional_key=True)
async def get_kpis(request: Request, who: OptionalCallerDep, cluster: ClusterQ = None, start: FromQ = None,
                   end: ToQ = None) -> dict:
    return await visible_board(request, who, cluster, start, end)


@router.get("/kpis.csv", summary="The scoreboard as CSV: one row per number (dotted path, value)",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}} | problems(404))
@public(PUBLIC, when="public_scoreboard", optional_key=True)
async def get_kpis_csv(request: Request, who: OptionalCallerDep, cluster: ClusterQ = None, start: FromQ = None,
                       end: ToQ = None) -> Response:
    board = await visible_board(request, who, cluster, start, end)
    return Response(to_csv(board), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="kpis.csv"'})


@router.get("/kpis/timeseries", summary="One metric per month or quarter, with the running total",
            response_model=None, responses=ok(out.Timeseries) | problems(404))
@public(PUBLIC, when="public_scoreboard", optional_key=True)
async def get_timeseries(
    request: Request,
    who: OptionalCallerDep,
    metric: Annotated[Metric, Query()],
    interval: Annotated[Literal["month", "quarter"], Query()] = "month",
    cluster: ClusterQ = None,
) -> dict:
    series = kpis.timeseries(await load_book(request), metric, interval, allowed_cluster(who, cluster))
    return disclosure.timeseries(series, disclosure.audience_of(who and who.role))


def to_csv(board: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", "value"])
    for path, value in kpis.flatten(board):
        writer.writerow([path, "" if value is None else value])
    return out.getvalue()
