"""The response bodies of notifications' API, as the OpenAPI document declares them (documentation only:
the views are unchanged; tests/integration/test_openapi_contract.py checks real answers against them)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import NotRequired, TypedDict

from shared.openapi import DateTime


class Delivery(TypedDict):
    id: str
    event_id: str
    event_type: str
    recipient: Annotated[str, Field(description="Participant id or webhook subscription id, never an address")]
    channel: Literal["email", "webhook"]
    template: str
    cluster_id: str | None
    status: str
    attempts: int
    due_at: DateTime | None
    sent_at: DateTime | None
    created_at: DateTime | None
    last_error: str | None
    message_id: str | None


class Webhook(TypedDict):
    """A webhook subscription; ``secret`` only in the answer that generated or set it."""

    id: str
    url: str
    event_types: list[str]
    cluster_id: Annotated[str | None, Field(description="Events of this cluster only; null: every cluster")]
    created_at: DateTime
    secret_rotated_at: DateTime | None
    previous_secret_valid_until: NotRequired[Annotated[
        DateTime, Field(description="Until then the previous secret signs too (after a rotation)")]]
    secret: NotRequired[Annotated[str, Field(description="The signing secret: shown in this response only")]]


class ReceivedEvent(TypedDict):
    event_id: str
    event_type: str
    subject: str
    correlation_id: str
    event_time: DateTime
