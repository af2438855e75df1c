"""What every service's OpenAPI document says about answers: the success schema each route declares, and the
problem+json errors the runtime can give, derived once here from what the runtime actually does.

Routes declare their success bodies with ``responses=ok(Model)`` (documentation only: the handlers keep
building their JSON as before, so what clients receive does not change by a byte; tests/integration/
test_openapi_contract.py checks real answers against these schemas). The errors come from
``complete(doc, app, settings)``, called when the service builds its document:

- every operation behind the gate (shared/gate.py) may answer 429 (request budget, 401 floods), 503 (requests
  in flight at the cap) and 422 (NUL characters in the query), plus 413 when its method carries a body and
  400 when it reads one (a body that is not parseable JSON);
- one that needs a key (or takes an optional one) answers 401; one restricted to roles by ``require`` 403;
- one with path parameters 404;
- FastAPI's own 422 (``HTTPValidationError``) is replaced: the runtime answers problem+json
  (shared/problems.py), and the document says so.

Anything else a route can answer (409, 410, a 403 decided in the handler) it declares with
``responses=problems(409)``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from fastapi.dependencies.models import Dependant
from pydantic import Field

from shared.auth import public_reason, takes_optional_key
from shared.gate import PROBES, flat_routes
from shared.problems import PROBLEM_JSON, PROBLEM_SCHEMA

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")

# Why each status happens, as the document tells a client.
WHY = {
    400: "The request body cannot be parsed",
    401: "No API key, or one that is unknown or revoked",
    403: "The key's role may not do this",
    404: "No such resource, or one the caller may not see",
    409: "The request conflicts with the resource's current state",
    410: "The participant this request concerned was erased",
    413: "The request body is larger than the service accepts",
    422: "The request is invalid: the fields are named in errors",
    429: "Too many requests with this key or from this address; retry after Retry-After seconds",
    503: "The service is at its limit of concurrent requests; retry after Retry-After seconds",
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}}
HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer realm", "schema": {"type": "string"}}},
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}


def problem(status: int, description: str | None = None) -> dict[str, Any]:
    """The OpenAPI response object of a problem+json error."""
    out: dict[str, Any] = {"description": description or WHY.get(status) or HTTPStatus(status).phrase,
                           "content": {PROBLEM_JSON: {"schema": dict(PROBLEM_REF)}}}
    if status in HEADERS:
        out["headers"] = HEADERS[status]
    return out


def problems(*statuses: int, **descriptions: str) -> dict[int, dict[str, Any]]:
    """``responses=`` entries for errors a route decides itself; ``descriptions`` by ``s409=...``."""
    return {s: problem(s, descriptions.get(f"s{s}")) for s in statuses}


def ok(model: Any, *statuses: int, description: str | None = None,
       also: dict[str, dict[str, Any]] | None = None) -> dict[int, dict[str, Any]]:
    """``responses=`` entries declaring the success body ``model`` (a TypedDict, pydantic model or a type
    such as ``list[X]``) at ``statuses`` (default 200), as JSON; ``also`` adds other media types."""
    out: dict[int, dict[str, Any]] = {}
    for status in statuses or (200,):
        entry: dict[str, Any] = {"model": model, "description": description or HTTPStatus(status).phrase}
        if also:
            entry["content"] = {media: dict(spec) for media, spec in also.items()}
        out[status] = entry
    return out


def _dependencies(dependant: Dependant):
    for dep in dependant.dependencies:
        yield dep
        yield from _dependencies(dep)


def _restricted(route) -> bool:
    dependant = getattr(route, "dependant", None)
    return dependant is not None and any(getattr(d.call, "__cxc_roles__", None) for d in _dependencies(dependant))


def _uses_fastapi_validation(response: dict[str, Any]) -> bool:
    return any(str(media.get("schema", {}).get("$ref", "")).endswith("/HTTPValidationError")
               for media in response.get("content", {}).values())


def error_statuses(route, method: str, settings) -> set[int]:
    """The problem statuses the runtime can answer on ``route`` for ``method`` without the route's say."""
    if route.path in PROBES:
        return set()  # the gate lets probes straight through; they fail only as a whole process does
    out = {422, 429, 503}
    if method in _BODY_METHODS:
        out.add(413)
    if getattr(route, "body_field", None) is not None:
        out.add(400)  # FastAPI's own answer to a body it cannot parse, as problem+json (shared/problems.py)
    if public_reason(route, settings) is None or takes_optional_key(route):
        out.add(401)
    if _restricted(route):
        out.add(403)
    if getattr(route, "param_convertors", None):
        out.add(404)
    return out


def complete(doc: dict[str, Any], app, settings) -> dict[str, Any]:
    """Add the Problem schema and every operation's problem responses to ``doc``; drop FastAPI's 422."""
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION:
        components.pop(name, None)
    components["Problem"] = PROBLEM_SCHEMA
    paths = doc.get("paths", {})
    for route in flat_routes(app):
        item = paths.get(route.path)
        if item is None:
            continue
        for method in getattr(route, "methods", None) or ():
            operation = item.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                for media, spec in response.get("content", {}).items():
                    if status.startswith("2") and not spec.get("schema") and "json" not in media:
                        spec["schema"] = {"type": "string"}  # CSV, HTML, event streams: text
            if "422" in responses and _uses_fastapi_validation(responses["422"]):
                responses["422"] = problem(422)
            for status in sorted(error_statuses(route, method, settings)):
                responses.setdefault(str(status), problem(status))
            operation["responses"] = dict(sorted(responses.items()))
    return doc


# Field types of response schemas: the views send dates and times as ISO 8601 strings.
DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Day = Annotated[str, Field(json_schema_extra={"format": "date"})]
