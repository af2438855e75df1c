"""The scoreboard API: JSON, CSV and time series, all computed from the same facts.

The KPIs are anonymous aggregate counts (no participant is identifiable from them), so, like the
dashboard, they are readable without an API key; the live event stream is for ops only.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.reporting.adapters import projection
from services.reporting.domain import kpis
from services.reporting.domain.facts import FactBook
from shared.problems import Problem
from shared.service import pool_of

router = APIRouter(prefix="/v1", tags=["reporting"])

ClusterQ = Annotated[str | None, Query(description="Home cluster of participants and exchanges, host of activities")]
FromQ = Annotated[date | None, Query(alias="from", description="First day of the period (inclusive)")]
ToQ = Annotated[date | None, Query(alias="to", description="Last day of the period (inclusive)")]
Metric = Literal[kpis.METRICS]  # type: ignore[valid-type]


async def load_book(request: Request) -> FactBook:
    async with pool_of(request).acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return await projection.load(conn)


def scope(cluster: str | None, start: date | None, end: date | None) -> kpis.Scope:
    if start and end and start > end:
        raise Problem(422, "'from' must not be after 'to'", kind="validation-error", title="Validation failed",
                      errors=[{"field": "from", "message": "after 'to'", "type": "value_error"}])
    return kpis.Scope(cluster=cluster or None, start=start, end=end)


@router.get("/kpis", summary="The monitoring scoreboard")
async def get_kpis(request: Request, cluster: ClusterQ = None, start: FromQ = None, end: ToQ = None) -> dict:
    wanted = scope(cluster, start, end)
    return kpis.scoreboard(await load_book(request), wanted)


@router.get("/kpis.csv", summary="The scoreboard as CSV: one row per number (dotted path, value)",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def get_kpis_csv(request: Request, cluster: ClusterQ = None, start: FromQ = None, end: ToQ = None) -> Response:
    wanted = scope(cluster, start, end)
    board = kpis.scoreboard(await load_book(request), wanted)
    return Response(to_csv(board), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="kpis.csv"'})


@router.get("/kpis/timeseries", summary="One metric per month or quarter, with the running total")
async def get_timeseries(
    request: Request,
    metric: Annotated[Metric, Query()],
    interval: Annotated[Literal["month", "quarter"], Query()] = "month",
    cluster: ClusterQ = None,
) -> dict:
    return kpis.timeseries(await load_book(request), metric, interval, cluster or None)


def to_csv(board: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", "value"])
    for path, value in kpis.flatten(board):
        writer.writerow([path, "" if value is None else value])
    return out.getvalue()
