"""The JSON views of registration's results: how rows and handler results look on the wire (documented
for the OpenAPI by entrypoints/schemas.py). Handlers never build these; routes do."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from services.registration.handlers import Approved, BatchItem, Joined


def _json_list(v) -> list:
    return json.loads(v) if isinstance(v, str) else list(v)


def participant_json(row: Any) -> dict:
    out = {
        "id": str(row["id"]),
        "cluster_id": row["cluster_id"],
        "external_ref": row["external_ref"],
        "status": row["status"],
        "kind": row["kind"],
        "name": row["name"],
        "country": row["country"].strip(),
        "city": row["city"],
        "employees": row["employees"],
        "website": row["website"],
        "sectors": list(row["sectors"]),
        "keywords": list(row["keywords"]),
        "offers": _json_list(row["offers"]),
        "requests": _json_list(row["requests"]),
        "consent": {"data_processing": True, "marketing": row["marketing_consent"]},
        "created_at": row["created_at"].isoformat(),
    }
    if "contact_email" in row.keys() and row["contact_email"] is not None:
        out["contact"] = {
            "name": row["contact_name"], "email": row["contact_email"], "phone": row["contact_phone"],
            "language": row["contact_language"],
        }
    return out


def batch_json(items: list[BatchItem]) -> dict:
    results, counts = [], {"created": 0, "existing": 0, "failed": 0}
    for item in items:
        if item.registered is not None:
            created = item.registered.created
            counts["created" if created else "existing"] += 1
            row = item.registered.row
            results.append({"index": item.index, "status": 201 if created else 200, "id": str(row["id"]),
                            "external_ref": row["external_ref"]})
            continue
        counts["failed"] += 1
        if isinstance(item.error, ValidationError):
            errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"], "type": e["type"]}
                      for e in item.error.errors(include_url=False, include_context=False, include_input=False)]
            results.append({"index": item.index, "status": 422, "problem": {
                "title": "Validation failed", "detail": "The item is invalid", "errors": errors}})
        else:
            results.append({"index": item.index, "status": item.error.status,
                            "problem": item.error.problem_members()})
    return {**counts, "results": results}


def activity_json(row: Any, joined: int | None = None) -> dict:
    out = {
        "id": str(row["id"]), "kind": row["kind"], "title": row["title"], "host_cluster_id": row["host_cluster_id"],
        "city": row["city"], "country": row["country"].strip(), "starts_on": row["starts_on"].isoformat(),
        "ends_on": row["ends_on"].isoformat(), "online": row["online"], "capacity": row["capacity"],
        "meetings": json.loads(row["meetings"]) if row["meetings"] else None,
    }
    if joined is not None:
        out["participants"] = joined
    return out


def joined_json(joined: Joined) -> dict:
    return {"activity_id": str(joined.activity_id), "participant_id": str(joined.participant_id),
            "unavailable": joined.unavailable}


def exchange_json(row: Any) -> dict:
    out = {
        "id": str(row["id"]), "participant_id": str(row["participant_id"]),
        "sending_cluster_id": row["sending_cluster_id"], "host_cluster_id": row["host_cluster_id"],
        "activity_id": str(row["activity_id"]) if row["activity_id"] else None, "kind": row["kind"],
        "start_date": row["start_date"].isoformat(), "end_date": row["end_date"].isoformat(),
        "working_days": row["working_days"], "goals": row["goals"], "status": row["status"],
        "lump_sum_eur": row["lump_sum_eur"],
        "distance_km": float(row["distance_km"]) if row["distance_km"] is not None else None,
        "approved_at": row["approved_at"].isoformat() if row["approved_at"] else None,
        "cancelled_at": row["cancelled_at"].isoformat() if row["cancelled_at"] else None,
        "cancel_reason": row["cancel_reason"],
    }
    if row["status"] == "completed":
        out["completion"] = {
            "completed_on": row["completed_on"].isoformat(), "working_days": row["days_worked"],
            "meetings_held": row["meetings_held"], "satisfaction": row["satisfaction"],
            "outcomes": list(row["outcomes"]), "testimonial": row["testimonial"],
        }
    return out


def approved_json(approved: Approved) -> dict:
    lump = approved.lump
    return {**exchange_json(approved.row),
            "lump_sum": {"cap_eur": lump.cap_eur, "halved": lump.halved, "reasons": list(lump.reasons)}}
