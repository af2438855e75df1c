from __future__ import annotations

import html
import uuid

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from services.notifications.adapters import inbox, store
from services.notifications.domain import unsubscribe
from services.notifications.entrypoints import schemas as out
from shared.auth import CallerDep, OpsDep, public
from shared.openapi import ok
from shared.problems import Problem
from shared.service import pool_of

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


@router.get("/notifications", responses=ok(list[out.Delivery]))
async def list_notifications(
    request: Request, who: CallerDep, recipient: str | None = Query(None, max_length=200),
    event_id: uuid.UUID | None = Query(None),
):
    """Deliveries with channel, template, status and attempts; a partner sees its own cluster's only."""
    cluster = who.cluster_id if who.role == "partner" else None
    async with pool_of(request).acquire() as conn:
        rows = await store.list_deliveries(conn, recipient=recipient, event_id=event_id, cluster_id=cluster)
    return [
        {
            "id": str(r["id"]), "event_id": str(r["event_id"]), "event_type": r["event_type"],
            "recipient": r["recipient"], "channel": r["channel"], "template": r["template"],
            "cluster_id": r["cluster_id"], "status": r["status"], "attempts": r["attempts"],
            "due_at": _iso(r["due_at"]), "sent_at": _iso(r["sent_at"]), "created_at": _iso(r["created_at"]),
            "last_error": r["last_error"], "message_id": r["message_id"],
        }
        for r in rows
    ]


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>ClusterXchange</title></head>
<body style="font-family: Arial, sans-serif;">{}</body></html>"""


def _checked(request: Request, participant_id: str, token: str) -> None:
    if not unsubscribe.valid(request.app.state.service.settings.signing_secret.get_secret_value(), participant_id, token):
        raise Problem(404, "Unknown or invalid unsubscribe link", kind="not-found")


@router.get("/unsubscribe/{participant_id}", response_class=HTMLResponse, include_in_schema=False)
@public("signed link: the token is an HMAC of the participant id")
async def unsubscribe_page(participant_id: str, request: Request, token: str = Query("")):
    _checked(request, participant_id, token)
    action = html.escape(f"/v1/unsubscribe/{participant_id}?token={token}")
    return _PAGE.format(
        f'<form method="post" action="{action}"><p>Stop non-essential e-mails from ClusterXchange?</p>'
        '<button type="submit">Unsubscribe</button></form>'
    )


@router.post("/unsubscribe/{participant_id}", response_class=HTMLResponse, include_in_schema=False)
@public("signed link: the token is an HMAC of the participant id")
async def unsubscribe_now(participant_id: str, request: Request, token: str = Query("")):
    """One-click (RFC 8058) and form target: essential mail (agenda, exchange decisions) still arrives."""
    _checked(request, participant_id, token)
    async with pool_of(request).acquire() as conn:
        await store.unsubscribe(conn, participant_id)
    return _PAGE.format("<p>You will no longer receive non-essential e-mails from ClusterXchange.</p>")
