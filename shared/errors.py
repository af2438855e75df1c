"""Domain errors: what a handler raises when a command cannot be carried out.

They know nothing of HTTP frameworks. Each carries the problem+json parts it maps to (status, kind, title,
detail and extra members such as ``errors``); ``shared.problems.install`` turns every one of them into an
RFC 9457 response in one place, so a handler never builds a response and a route never catches one. Details
must be readable and never contain personal data (ids are fine, names and addresses are not).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 400
    default_kind: ClassVar[str | None] = None

    def __init__(self, detail: str, *, kind: str | None = None, title: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        phrase = HTTPStatus(self.status).phrase
        self.detail = detail
        self.kind = kind or self.default_kind or phrase.lower().replace(" ", "-")
        self.title = title or phrase
        self.extra = extra

    def problem_members(self) -> dict[str, Any]:
        """The problem's members without ``type``/``instance`` (a batch item reports these for its item)."""
        return {"title": self.title, "detail": self.detail, **self.extra}


class NotFound(DomainError):
    """No such thing, or one the caller may not see: the two are deliberately indistinguishable."""

    status = 404
    default_kind = "not-found"

    @classmethod
    def of(cls, what: str, ident: Any) -> NotFound:
        return cls(f"No {what} {ident}")


class Conflict(DomainError):
    """The command contradicts the current state (a state machine refused it, a uniqueness rule, a capacity)."""

    status = 409
    default_kind = "conflict"


class RuleBroken(DomainError):
    """A business rule refuses the command: 422, naming the field it concerns and the rule in words."""

    status = 422
    default_kind = "rule-violation"

    def __init__(self, field: str | None, message: str, *, kind: str | None = None,
                 title: str | None = "Programme rule violated", error_type: str = "rule", **extra: Any) -> None:
        if field is not None:
            extra.setdefault("errors", [{"field": field, "message": message, "type": error_type}])
        super().__init__(message, kind=kind, title=title, **extra)
        self.field = field


class Invalid(RuleBroken):
    """Input the request schema could not check (a field required for one role, an unreadable cursor): the
    same body FastAPI's own validation failures get."""

    default_kind = "validation-error"

    def __init__(self, field: str, message: str, *, detail: str | None = None, error_type: str = "value_error") -> None:
        super().__init__(field, message, title="Validation failed", error_type=error_type)
        self.detail = detail or message
        self.args = (self.detail,)


class Forbidden(DomainError):
    """The caller is known and may see the thing, but may not do this to it."""

    status = 403
    default_kind = "forbidden"


class Gone(DomainError):
    """It existed and was deliberately removed (an erased participant): 410, not 404."""

    status = 410
    default_kind = "gone"
