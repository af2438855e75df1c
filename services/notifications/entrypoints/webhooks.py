"""Webhook subscriptions over HTTP: create, list, get, delete, rotate the secret.

Every route needs an API key. A partner key sees and changes only its own cluster's hooks (another
cluster's hook is a 404, as if it did not exist); coordinators manage every hook, ops may read them.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from services.notifications import handlers
from services.notifications.adapters import webhook_http
from services.notifications.adapters.repository import Repository
from services.notifications.domain import signing
from services.notifications.domain.subscriptions import Webhook
from services.notifications.handlers import WEBHOOK_EVENT_TYPES
from services.notifications.entrypoints import schemas as out
from shared.auth import Caller, CallerDep, WriterDep
from shared.openapi import ok, problems
from shared.service import pool_of
from shared.unit_of_work import unit_of_work

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


def webhook_view(hook: Webhook, secret: str | None = None) -> dict:
    out = {
        "id": str(hook.id), "url": hook.url, "event_types": list(hook.event_types), "cluster_id": hook.cluster_id,
        "created_at": hook.created_at.isoformat(),
        "secret_rotated_at": hook.secret_rotated_at.isoformat() if hook.secret_rotated_at else None,
    }
    if hook.previous_secret_until is not None:
        out["previous_secret_valid_until"] = hook.previous_secret_until.isoformat()
    if secret is not None:
        out["secret"] = secret
    return out


def _work(request: Request, who: Caller):
    return unit_of_work(pool_of(request), who, Repository, source=request.app.state.service.settings.source)


def _vetter(request: Request):
    policy = webhook_http.policy_for(request.app.state.service.settings)

    async def vet(url: str) -> None:
        target = policy.check_url(url)
        if not policy.host_allowed(target.host):
            await webhook_http.vetted_addresses(policy, target.host, target.port)

    return vet


@router.post("", status_code=201, responses=ok(out.Webhook, 201, 200) | problems(409))
async def create_webhook(
    body: WebhookIn, request: Request, response: Response, who: WriterDep, idempotency_key: IdempotencyKey = None,
):
    """Subscribe a URL to event types; a partner's hook hears only about events of its own cluster.

    Safe to retry: with the same Idempotency-Key the first answer comes again (with the generated secret,
    if one was); without one, a hook for the same URL and event types is answered with 200 and no secret."""
    url = str(body.url)
    await handlers.vet_destination(_vetter(request), url)
    command = handlers.CreateWebhook(url, body.event_types, body.secret, idempotency_key)
    async with _work(request, who) as uow:
        created = await handlers.create_webhook(uow, command, cap=request.app.state.service.settings.webhook_max_per_cluster)
    response.headers["Location"] = f"/v1/webhooks/{created.webhook.id}"
    if not created.new:
        response.status_code = 200
    return webhook_view(created.webhook, created.secret)


@router.get("", responses=ok(list[out.Webhook]))
async def list_webhooks(request: Request, who: CallerDep):
    """The caller's hooks (a partner: its cluster's; coordinators and ops: all). Secrets are never listed."""
    async with _work(request, who) as uow:
        return [webhook_view(h) for h in await handlers.webhooks_of(uow)]


@router.get("/{subscription_id}", responses=ok(out.Webhook))
async def get_webhook(subscription_id: uuid.UUID, request: Request, who: CallerDep):
    async with _work(request, who) as uow:
        return webhook_view(await handlers.webhook(uow, subscription_id))


@router.delete("/{subscription_id}", status_code=204)
async def delete_webhook(subscription_id: uuid.UUID, request: Request, who: WriterDep):
    """Stops the hook at once: deliveries still planned for it are cancelled."""
    async with _work(request, who) as uow:
        await handlers.delete_webhook(uow, subscription_id)
    return Response(status_code=204)


@router.post("/{subscription_id}/rotate-secret", responses=ok(out.Webhook))
async def rotate_secret(subscription_id: uuid.UUID, request: Request, who: WriterDep, body: RotateIn | None = None):
    """A new secret signs from now on; the previous one adds a second signature (space-separated in
    webhook-signature) until ``previous_secret_valid_until``, so receivers can switch without a gap."""
    overlap = request.app.state.service.settings.webhook_rotation_overlap_s
    async with _work(request, who) as uow:
        hook, shown = await handlers.rotate_secret(uow, subscription_id, body.secret if body else None,
                                                   overlap_s=overlap)
    return webhook_view(hook, shown)
