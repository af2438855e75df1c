"""Typed settings, one class per service, failing fast on bad or placeholder values.

Infrastructure every service shares is read from ``CXC_*``; what is the service's own is read from
``CXC_<SERVICE>_*`` (e.g. ``CXC_REPORTING_PORT``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "dev-secret"}


def _shared(name: str):
    return AliasChoices(f"CXC_{name}")


class ServiceSettings(BaseSettings):
    """Settings shared by every service. Subclasses set ``service`` and the env prefix."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    service: str = "service"
    env: Literal["dev", "test", "prod"] = Field("dev", validation_alias=_shared("ENV"))
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/postgres", validation_alias=_shared("DATABASE_URL")
    )
    kafka_bootstrap: str = Field("127.0.0.1:9092", validation_alias=_shared("KAFKA_BOOTSTRAP"))
    log_level: str = Field("INFO", validation_alias=_shared("LOG_LEVEL"))
    host: str = "127.0.0.1"
    port: int = 8000
    db_pool_min: int = 1
    db_pool_max: int = 10
    # Broker calls that may hang (send, commit, stop) give up after this many seconds.
    broker_timeout_s: float = Field(10.0, validation_alias=_shared("BROKER_TIMEOUT_S"))
    consumer_session_timeout_ms: int = Field(10_000, validation_alias=_shared("CONSUMER_SESSION_TIMEOUT_MS"))
    consumer_max_retries: int = Field(5, validation_alias=_shared("CONSUMER_MAX_RETRIES"))
    # Server-side statement timeout inside consumer transactions, below the pool's 30 s command timeout: a
    # slow handler statement is cancelled by PostgreSQL, retried and dead-lettered (shared/messaging/consumer.py).
    consumer_statement_timeout_s: float = Field(20.0, gt=0, validation_alias=_shared("CONSUMER_STATEMENT_TIMEOUT_S"))
    relay_poll_interval_s: float = Field(0.5, validation_alias=_shared("RELAY_POLL_INTERVAL_S"))
    # Request limits (shared/gate.py, shared/limits.py), per service: e.g. CXC_MATCHMAKING_MAX_BODY_BYTES.
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Request body cap (413 above it)")
    rate_limit_requests: int = Field(600, ge=1, description="Requests (batch items) per API key per window")
    rate_limit_window_s: int = Field(60, ge=1)
    unauthenticated_limit: int = Field(60, ge=1, description="401 answers per client address per window, then 429")
    max_concurrent_requests: int = Field(200, ge=1, description="Requests in flight (503 above it)")
    # uvicorn: open connections (503 above it), idle keep-alive, and the largest request head (431/400).
    max_connections: int = Field(1000, ge=1)
    keepalive_timeout_s: float = Field(5.0, gt=0)
    max_header_bytes: int = Field(16_384, ge=1024)
    # Service-to-service token for the few internal endpoints (e.g. the contact lookup notifications uses,
    # which keeps personal data out of events).
    internal_token: str = Field("dev-internal-token", validation_alias=_shared("INTERNAL_TOKEN"))
    registration_url: str = Field("http://127.0.0.1:8001", validation_alias=_shared("REGISTRATION_URL"))

    @model_validator(mode="after")
    def _no_placeholder_internal_token_in_prod(self):
        if self.env == "prod" and (self.internal_token in PLACEHOLDER_SECRETS or self.internal_token.startswith("dev-")):
            raise ValueError(f"{type(self).__name__}: set CXC_INTERNAL_TOKEN to a real secret in prod")
        return self

    @property
    def db_schema(self) -> str:
        return self.service

    @property
    def source(self) -> str:
        return f"/cxc/{self.service}"


class SecretSettingsMixin(BaseSettings):
    """For services holding a signing secret: refuse placeholders outside dev and test."""

    signing_secret: str = "dev-secret"

    @model_validator(mode="after")
    def _no_placeholder_secret_in_prod(self):
        if getattr(self, "env", "dev") == "prod" and self.signing_secret in PLACEHOLDER_SECRETS:
            raise ValueError(f"{type(self).__name__}: set a real signing secret in prod")
        return self
