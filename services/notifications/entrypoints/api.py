from __future__ import annotations

import html
import uuid

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from services.notifications import handlers
from services.notifications.adapters import inbox
from services.notifications.adapters.repository import Repository
from services.notifications.entrypoints import schemas as out
from shared.auth import Caller, CallerDep, OpsDep, public
from shared.openapi import ok
from shared.service import pool_of
from shared.unit_of_work import unit_of_work

router = APIRouter(prefix="/v1", tags=["notifications"])
# Mounted only when CXC_ENV is dev or test (bootstrap.py): what the inbox received, for end-to-end tests
# that check an event reached this service. It does not exist in a production build.
dev_router = APIRouter(prefix="/v1", tags=["dev only"])


@dev_router.get("/received-events", responses=ok(list[out.ReceivedEvent]))
async def received_events(
    request: Request, _: OpsDep, subject: str | None = Query(None, max_length=200),
    event_id: str | None = Query(None, max_length=200),
):
    async with pool_of(request).acquire() as conn:
        rows = await inbox.list_for(conn, subject, event_id)
    return [
        {
            "event_id": str(r["event_id"]), "event_type": r["event_type"], "subject": r["subject"],
            "correlation_id": r["correlation_id"], "event_time": r["event_time"].isoformat(),
        }
        for r in rows
    ]


def _iso(value):
    return value.isoformat() if value is not None else None


def work(request: Request, who: Caller):
    """The unit of work of one request (handlers.Work): its transaction and the caller."""
    return unit_of_work(pool_of(request), who, Repository, source=request.app.state.service.settings.source)


def delivery_view(d: dict) -> dict:
    return {
        "id": str(d["id"]), "event_id": str(d["event_id"]), "event_type": d["event_type"],
        "recipient": d["recipient"], "channel": d["channel"], "template": d["template"],
        "cluster_id": d["cluster_id"], "status": d["status"], "attempts": d["attempts"],
        "due_at": _iso(d["due_at"]), "sent_at": _iso(d["sent_at"]), "created_at": _iso(d["created_at"]),
        "last_error": d["last_error"], "message_id": d["message_id"],
    }


@router.get("/notifications", responses=ok(list[out.Delivery]))
async def list_notifications(
    request: Request, who: CallerDep, recipient: str | None = Query(None, max_length=200),
    event_id: uuid.UUID | None = Query(None),
):
    """Deliveries with channel, template, status and attempts; a partner sees its own cluster's only."""
    async with work(request, who) as uow:
        found = await handlers.deliveries(uow, recipient=recipient, event_id=event_id)
    return [delivery_view(d) for d in found]


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>ClusterXchange</title></head>
<body style="font-family: Arial, sans-serif;">{}</body></html>"""


def _signing_secret(request: Request) -> str:
    return request.app.state.service.settings.signing_secret.get_secret_value()


@router.get("/unsubscribe/{participant_id}", response_class=HTMLResponse, include_in_schema=False)
@public("signed link: the token is an HMAC of the participant id")
async def unsubscribe_page(participant_id: str, request: Request, token: str = Query("")):
    handlers.check_unsubscribe_link(_signing_secret(request), participant_id, token)
    action = html.escape(f"/v1/unsubscribe/{participant_id}?token={token}")
    return _PAGE.format(
        f'<form method="post" action="{action}"><p>Stop non-essential e-mails from ClusterXchange?</p>'
        '<button type="submit">Unsubscribe</button></form>'
    )


@router.post("/unsubscribe/{participant_id}", response_class=HTMLResponse, include_in_schema=False)
@public("signed link: the token is an HMAC of the participant id")
async def unsubscribe_now(participant_id: str, request: Request, token: str = Query("")):
    """One-click (RFC 8058) and form target: essential mail (agenda, exchange decisions) still arrives."""
    secret = _signing_secret(request)
    handlers.check_unsubscribe_link(secret, participant_id, token)  # before any connection is taken
    async with work(request, handlers.SIGNED_LINK) as uow:
        await handlers.unsubscribe(uow, participant_id, token, signing_secret=secret)
    return _PAGE.format("<p>You will no longer receive non-essential e-mails from ClusterXchange.</p>")
