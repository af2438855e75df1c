from __future__ import annotations

import html
import uuid

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from services.notifications.adapters import inbox, store
from services.notifications.domain import signing, unsubscribe
from services.notifications.handlers import WEBHOOK_EVENT_TYPES
from shared.auth import CallerDep, OpsDep, WriterDep, public
from shared.problems import Problem
from shared.service import pool_of

router = APIRouter(prefix="/v1", tags=["notifications"])
# Mounted only when CXC_ENV is dev or test (bootstrap.py): what the inbox received, for end-to-end tests
# that check an event reached this service. It does not exist in a production build.
dev_router = APIRouter(prefix="/v1", tags=["dev only"])


@dev_router.get("/received-events")
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


@router.get("/notifications")
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


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: AnyHttpUrl = Field(examples=["https://partner.example/hooks/cxc"])
    event_types: list[str] = Field(min_length=1, max_length=50, examples=[["exchange.approved"]])
    secret: str | None = Field(None, min_length=16, max_length=200,
                               description="HMAC key; generated (whsec_…) and returned once when omitted")

    @field_validator("event_types")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - WEBHOOK_EVENT_TYPES)
        if unknown:
            raise ValueError(f"unknown event types {unknown}; choose from {sorted(WEBHOOK_EVENT_TYPES)}")
        return sorted(set(value))


def _subscription_json(row, secret: str | None = None) -> dict:
    out = {
        "id": str(row["id"]), "url": row["url"], "event_types": list(row["event_types"]),
        "cluster_id": row["cluster_id"], "created_at": row["created_at"].isoformat(),
    }
    if secret is not None:
        out["secret"] = secret
    return out


@router.post("/webhooks", status_code=201)
async def create_webhook(body: WebhookIn, request: Request, response: Response, who: WriterDep):
    """Subscribe a URL to event types. A partner hears only about events of its own cluster."""
    generated = body.secret is None
    secret = signing.new_secret() if generated else body.secret
    async with pool_of(request).acquire() as conn:
        row = await store.add_subscription(
            conn, cluster_id=who.cluster_id if who.role == "partner" else None, owner_cluster_id=who.cluster_id,
            url=str(body.url), event_types=body.event_types, secret=secret, created_by=who.key_id,
        )
    response.headers["Location"] = f"/v1/webhooks/{row['id']}"
    return _subscription_json(row, secret if generated else None)


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
