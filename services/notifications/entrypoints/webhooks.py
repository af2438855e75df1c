"""Webhook subscriptions over HTTP: create, list, get, delete, rotate the secret.

Every route needs an API key. A partner key sees and changes only its own cluster's hooks (another
cluster's hook is a 404, as if it did not exist); coordinators manage every hook, ops may read them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from services.notifications.adapters import webhook_http, webhooks
from services.notifications.domain import signing
from services.notifications.domain.destinations import DestinationRefused
from services.notifications.handlers import WEBHOOK_EVENT_TYPES
from services.notifications.entrypoints import schemas as out
from shared.auth import Caller, CallerDep, WriterDep
from shared.openapi import ok, problems
from shared.problems import Problem
from shared.service import pool_of

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


def _secret(value: str | None) -> str | None:
    if value is not None:
        signing.check_secret(value)
    return value


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: AnyHttpUrl = Field(max_length=2000, examples=["https://partner.example/hooks/cxc"])
    event_types: list[str] = Field(min_length=1, max_length=50, examples=[["exchange.approved"]])
    secret: str | None = Field(
        None, min_length=16, max_length=200,
        description="HMAC key: whsec_ + base64 of 24..64 bytes, or any string of 16+ characters; "
                    "generated (whsec_…) and returned once when omitted",
    )

    @field_validator("event_types")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - WEBHOOK_EVENT_TYPES)
        if unknown:
            raise ValueError(f"unknown event types {unknown}; choose from {sorted(WEBHOOK_EVENT_TYPES)}")
        return sorted(set(value))

    @field_validator("secret")
    @classmethod
    def _usable(cls, value: str | None) -> str | None:
        return _secret(value)


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret: str | None = Field(None, min_length=16, max_length=200, description="as on create; generated when omitted")

    @field_validator("secret")
    @classmethod
    def _usable(cls, value: str | None) -> str | None:
        return _secret(value)


def _json(row, secret: str | None = None) -> dict:
    out = {
        "id": str(row["id"]), "url": row["url"], "event_types": list(row["event_types"]),
        "cluster_id": row["cluster_id"], "created_at": row["created_at"].isoformat(),
        "secret_rotated_at": row["secret_rotated_at"].isoformat() if row["secret_rotated_at"] else None,
    }
    if row["previous_secret_until"] is not None:
        out["previous_secret_valid_until"] = row["previous_secret_until"].isoformat()
    if secret is not None:
        out["secret"] = secret
    return out


def _scope(who: Caller) -> str | None:
    return who.cluster_id if who.role == "partner" else None


def _not_found(subscription_id: uuid.UUID) -> Problem:
    return Problem(404, f"No webhook {subscription_id}", kind="not-found")


async def _check_destination(request: Request, url: str) -> None:
    policy = webhook_http.policy_for(request.app.state.service.settings)
    try:
        target = policy.check_url(url)
        if not policy.host_allowed(target.host):
            await webhook_http.vetted_addresses(policy, target.host, target.port)
    except DestinationRefused as exc:
        raise Problem(
            422, f"The webhook URL is not allowed: {exc}", kind="webhook-destination-refused",
            errors=[{"field": "url", "message": str(exc), "type": "destination"}],
        ) from None


@router.post("", status_code=201, responses=ok(out.Webhook, 201, 200) | problems(409))
async def create_webhook(
    body: WebhookIn, request: Request, response: Response, who: WriterDep, idempotency_key: IdempotencyKey = None,
):
    """Subscribe a URL to event types; a partner's hook hears only about events of its own cluster.

    Safe to retry: with the same Idempotency-Key the first answer comes again (with the generated secret,
    if one was); without one, a hook for the same URL and event types is answered with 200 and no secret."""
    url = str(body.url)
    await _check_destination(request, url)
    generated = body.secret is None
    secret = signing.new_secret() if generated else body.secret
    fingerprint = hashlib.sha256(json.dumps(
        [url, body.event_types, hashlib.sha256(body.secret.encode()).hexdigest() if body.secret else None]
    ).encode()).hexdigest()
    settings = request.app.state.service.settings
    try:
        async with pool_of(request).acquire() as conn, conn.transaction():
            created = await webhooks.create(
                conn, cluster_id=_scope(who), owner_cluster_id=who.cluster_id, url=url,
                event_types=body.event_types, secret=secret, generated=generated, created_by=who.key_id,
                cap=settings.webhook_max_per_cluster, idempotency_key=idempotency_key, fingerprint=fingerprint,
            )
            if not created.new and body.secret is not None and created.row["secret"] != body.secret:
                raise Problem(409, f"Webhook {created.row['id']} already sends these events to this URL with "
                              "another secret; rotate its secret instead", kind="conflict")
    except webhooks.CapReached:
        raise Problem(409, f"This cluster has {settings.webhook_max_per_cluster} webhooks, the most allowed; "
                      "delete one first", kind="webhook-limit-reached") from None
    except webhooks.IdempotencyKeyReused:
        raise Problem(422, "This Idempotency-Key was used with a different request",
                      kind="idempotency-key-reused") from None
    row = created.row
    response.headers["Location"] = f"/v1/webhooks/{row['id']}"
    if not created.new:
        response.status_code = 200
    return _json(row, created.secret)


@router.get("", responses=ok(list[out.Webhook]))
async def list_webhooks(request: Request, who: CallerDep):
    """The caller's hooks (a partner: its cluster's; coordinators and ops: all). Secrets are never listed."""
    async with pool_of(request).acquire() as conn:
        return [_json(r) for r in await webhooks.list_for(conn, _scope(who))]


@router.get("/{subscription_id}", responses=ok(out.Webhook))
async def get_webhook(subscription_id: uuid.UUID, request: Request, who: CallerDep):
    async with pool_of(request).acquire() as conn:
        row = await webhooks.get(conn, subscription_id, _scope(who))
    if row is None:
        raise _not_found(subscription_id)
    return _json(row)


@router.delete("/{subscription_id}", status_code=204)
async def delete_webhook(subscription_id: uuid.UUID, request: Request, who: WriterDep):
    """Stops the hook at once: deliveries still planned for it are cancelled."""
    async with pool_of(request).acquire() as conn, conn.transaction():
        if not await webhooks.delete(conn, subscription_id, _scope(who)):
            raise _not_found(subscription_id)
    return Response(status_code=204)


@router.post("/{subscription_id}/rotate-secret", responses=ok(out.Webhook))
async def rotate_secret(subscription_id: uuid.UUID, request: Request, who: WriterDep, body: RotateIn | None = None):
    """A new secret signs from now on; the previous one adds a second signature (space-separated in
    webhook-signature) until ``previous_secret_valid_until``, so receivers can switch without a gap."""
    generated = body is None or body.secret is None
    secret = signing.new_secret() if generated else body.secret
    settings = request.app.state.service.settings
    async with pool_of(request).acquire() as conn, conn.transaction():
        row = await webhooks.rotate(conn, subscription_id, _scope(who), secret, settings.webhook_rotation_overlap_s)
    if row is None:
        raise _not_found(subscription_id)
    return _json(row, secret if generated else None)
