"""``cxc import participants FILE.csv --cluster ID``: bring a partner's spreadsheet into the programme.

The import goes through the service layer (``handlers.register_batch``), not the HTTP API. It runs where
``cxc keys`` runs, next to the database, so it needs no API key and no rate-limit allowance, and it still
takes the exact path of ``POST /v1/participants:batch``: the same validation, one transaction per chunk
with the participant rows and their ``participant.registered`` events in the outbox, and per-row results.
It acts as a partner of ``--cluster``, so a row naming another cluster is refused.

Re-running a file creates no duplicates: a row without an ``external_ref`` column gets one derived from
its content (``csv:<hash>``), and ``external_ref`` is unique per cluster.

Columns (header row required, order free): kind, name, country, city, employees, website, sectors,
keywords, offers, requests, contact_name, contact_email, contact_phone, contact_language,
data_processing_consent, marketing_consent, external_ref. Lists are separated by ``;``; an offer or
request is ``type: text`` (e.g. ``technology: V2X platform; partnership: pilots``). Consent columns
accept yes/true/1/x; a row without explicit data-processing consent is refused.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from services.registration import handlers
from services.registration.entrypoints import views
from services.registration.entrypoints.writes import open_uow
from shared.unit_of_work import Caller

CHUNK = 100
TRUE = {"yes", "y", "true", "1", "x", "ja", "oui", "tak", "si", "sí", "taip", "da"}


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(";") if v.strip()]


def _offers(value: str) -> list[dict[str, str] | str]:
    out: list[dict[str, str] | str] = []
    for entry in _list(value):
        kind, sep, text = entry.partition(":")
        out.append({"type": kind.strip().lower(), "text": text.strip()} if sep else entry)
    return out


def row_to_item(row: dict[str, str | None]) -> dict[str, Any]:
    """One CSV row as a ``POST /v1/participants`` body; values that do not parse are passed on as they
    are, so validation names the field."""
    r = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
    item: dict[str, Any] = {
        "kind": r.get("kind", "").lower() or None, "name": r.get("name") or None, "country": r.get("country") or None,
        "sectors": _list(r.get("sectors", "")), "keywords": _list(r.get("keywords", "")),
        "offers": _offers(r.get("offers", "")), "requests": _offers(r.get("requests", "")),
        "contact": {"name": r.get("contact_name") or None, "email": r.get("contact_email") or None},
        "consent": {"data_processing": r.get("data_processing_consent", "").lower() in TRUE,
                    "marketing": r.get("marketing_consent", "").lower() in TRUE},
    }
    for column in ("city", "website"):
        if r.get(column):
            item[column] = r[column]
    if r.get("employees"):
        item["employees"] = int(r["employees"]) if r["employees"].isdigit() else r["employees"]
    if r.get("contact_phone"):
        item["contact"]["phone"] = r["contact_phone"]
    if r.get("contact_language"):
        item["contact"]["language"] = r["contact_language"].lower()
    content = "\x1f".join(f"{k}={r[k]}" for k in sorted(r) if k != "external_ref")
    item["external_ref"] = r.get("external_ref") or "csv:" + hashlib.sha256(content.encode()).hexdigest()[:24]
    return item


def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, item) per data row; ``utf-8-sig`` accepts the BOM spreadsheet programs write."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        return [(reader.line_num, row_to_item(row)) for row in reader]


@dataclass
class ImportReport:
    created: int = 0
    existing: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)


def _explain(problem: dict) -> str:
    errors = problem.get("errors") or []
    if errors:
        return "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem.get("detail", "refused")


async def import_participants(
    pool: asyncpg.Pool, rows: list[tuple[int, dict[str, Any]]], cluster_id: str,
    progress: Callable[[int], None] = lambda n: None,
) -> ImportReport:
    caller = Caller(cluster_id=cluster_id, role="partner", key_id="cli:import")
    report = ImportReport()
    for chunk in _chunks(rows, CHUNK):
        async with open_uow(pool, caller) as uow:
            outcome = views.batch_json(await handlers.register_batch(uow, [item for _, item in chunk]))
        for result in outcome["results"]:
            line = chunk[result["index"]][0]
            if result["status"] == 201:
                report.created += 1
            elif result["status"] == 200:
                report.existing += 1
            else:
                report.failed.append((line, _explain(result["problem"])))
        progress(len(chunk))
    return report


def _chunks(rows: list, size: int) -> Iterable[list]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]
