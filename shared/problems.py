"""RFC 9457 problem details for every error a service returns."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import DomainError

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://clusterxchange.eu/problems/"

# What every error body is, as JSON Schema (the OpenAPI component "Problem", see shared/openapi.py). Open to
# further members, as RFC 9457 allows: a 429 or a conflict may add its own.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details, sent as application/problem+json.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "Identifies the kind of problem",
                 "examples": [TYPE_BASE + "not-found"]},
        "title": {"type": "string", "description": "Short summary of the kind of problem"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status code"},
        "detail": {"type": "string", "description": "What went wrong with this request, in words"},
        "instance": {"type": "string", "description": "The path of the request"},
        "errors": {
            "type": "array", "description": "The invalid fields, when the request was invalid",
            "items": {
                "type": "object", "required": ["field", "message", "type"],
                "properties": {"field": {"type": "string", "description": "Dotted path of the field"},
                               "message": {"type": "string"}, "type": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}


class Problem(Exception):
    """Raise from the edge (authentication, limits, middleware) to answer with a problem+json response.
    Handlers raise the framework-free domain errors of shared/errors.py instead; ``install`` maps both."""

    def __init__(
        self, status: int, detail: str, *, kind: str | None = None, title: str | None = None, headers=None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind or HTTPStatus(status).phrase.lower().replace(" ", "-")
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers
        self.extra = extra


def problem_response(
    status: int, detail: str, *, kind: str | None = None, title: str | None = None, headers=None, instance=None, **extra
) -> JSONResponse:
    phrase = HTTPStatus(status).phrase
    body = {
        "type": TYPE_BASE + (kind or phrase.lower().replace(" ", "-")),
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem_response(
            exc.status, exc.detail, kind=exc.kind, title=exc.title, headers=exc.headers,
            instance=request.url.path, **exc.extra,
        )

    # The one mapping from domain errors (shared/errors.py) to problem+json: handlers raise them, no route
    # catches them.
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError):
        return problem_response(
            exc.status, exc.detail, kind=exc.kind, title=exc.title, instance=request.url.path, **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = [
            {"field": _field(tuple(e["loc"])), "message": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        names = ", ".join(sorted({e["field"] for e in errors}))
        return problem_response(
            422, f"The request is invalid: {names}", kind="validation-error", title="Validation failed",
            instance=request.url.path, errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return problem_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None), instance=request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        return problem_response(500, "An unexpected error occurred; it has been logged.", instance=request.url.path)
