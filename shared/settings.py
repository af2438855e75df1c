"""Typed settings, one class per service, failing fast on bad or placeholder values.

Infrastructure every service shares is read from ``CXC_*``; what is the service's own is read from
``CXC_<SERVICE>_*`` (e.g. ``CXC_REPORTING_PORT``).

Secrets fail closed. A secret setting is a ``SecretStr`` annotated with a ``SecretRule`` (see ``Secret``):
it has no default in any environment, and unless ``CXC_ENV`` is ``dev`` or ``test`` (it defaults to
``prod``) it must also not look like a placeholder (``placeholder_reason``). Only ``cxc run``
(``cxc/devstack.py``, which generates random secrets and keeps them in ``$CXC_HOME/secrets.json``) and the
tests' fixtures set ``CXC_ENV=dev``/``test``. Every problem is reported at once, naming the variable, and
``shared.service.main`` prints them without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.messaging.namespace import MAX_NAMESPACE_LENGTH, NAMESPACE_PATTERN, Namespace

# Exact values that are never secrets (kept as a set: tests/unit/test_compose.py checks compose against it).
PLACEHOLDER_SECRETS = {
    "", "changeme", "change-me", "change_me", "changeit", "dev-secret", "dev-internal-token", "secret", "password",
    "passw0rd", "p@ssw0rd", "admin", "root", "default", "token", "test", "testing", "example", "letmein", "qwerty",
    "123456", "12345678", "123456789", "none", "null", "todo", "xxx", "replace-me", "your-secret", "mysecret",
}
# Words that mark a value as copied from documentation or a template rather than generated.
_PLACEHOLDER_WORDS = ("changeme", "change-me", "change_me", "replace", "placeholder", "example", "dummy", "insecure",
                      "not-secret", "notsecret", "your-", "your_", "secret-here", "fixme", "…", "...", "<", ">",
                      "${")
_PLACEHOLDER_PREFIXES = ("dev-", "dev_", "test-", "test_", "demo-", "demo_", "sample")
DEV_ENVS = ("dev", "test")
# Processed-event markers are kept at least this much longer than published outbox rows (see
# ServiceSettings._markers_outlive_the_outbox); the housekeeping interval may not exceed it.
MARKER_MARGIN_DAYS = 1.0


@dataclass(frozen=True)
class SecretRule:
    """Marks a ``SecretStr`` setting as a secret checked by ``ServiceSettings``.

    ``required=False`` lets it stay unset (the feature it guards is off, e.g. SMTP without AUTH); once set it
    is checked like any other. ``min_length`` is the shortest value accepted outside dev/test: 32 for secrets
    this platform generates (tokens, signing keys); lower it only for secrets issued by a third party.
    """

    min_length: int = 32
    required: bool = True


# The type of every secret setting: ``token: Secret = None`` (required), or
# ``password: Annotated[SecretStr | None, SecretRule(min_length=12, required=False)] = None``.
Secret = Annotated[SecretStr | None, SecretRule()]


def placeholder_reason(value: str, min_length: int = 32) -> str | None:
    """Why ``value`` cannot be a real secret, or None. Catches more than exact matches: well-known values,
    template text, ``dev-``/``test-`` values, too few distinct characters, repeated patterns, short values."""
    v = value.strip()
    low = v.lower()
    if not v:
        return "is empty"
    if low in PLACEHOLDER_SECRETS:
        return "is a well-known placeholder"
    if low.startswith(_PLACEHOLDER_PREFIXES) or any(w in low for w in _PLACEHOLDER_WORDS):
        return "looks like a placeholder or a dev/test value"
    if len(set(low)) < 6 or any(low == (low[:k] * (len(low) // k + 1))[: len(low)] for k in range(1, len(low) // 2 + 1)):
        return "repeats too few characters to be random"
    if len(v) < min_length:
        return f"is shorter than {min_length} characters"
    return None


def env_name(model: type[BaseSettings], field: str) -> str:
    """The environment variable a field is read from."""
    info = model.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    if isinstance(alias, str):
        return alias
    return f"{model.model_config.get('env_prefix', '')}{field}".upper()


def secret_problems(settings: BaseSettings, env: str) -> list[str]:
    """One readable line per secret setting that is missing, or a placeholder outside dev/test."""
    problems = []
    for name, info in type(settings).model_fields.items():
        rule = next((m for m in info.metadata if isinstance(m, SecretRule)), None)
        if rule is None:
            continue
        value = getattr(settings, name)
        var = env_name(type(settings), name)
        if value is None or not value.get_secret_value():
            if rule.required:
                problems.append(f"{var} is not set")
            continue
        if env not in DEV_ENVS and (why := placeholder_reason(value.get_secret_value(), rule.min_length)):
            problems.append(f"{var} {why}")
    return problems


class InsecureConfiguration(ValueError):
    pass


def config_errors(exc: ValidationError) -> list[str]:
    """A settings ValidationError as short lines for people (no input values: they may be secrets)."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        msg = str(err.get("msg", ""))
        msg = msg.removeprefix("Value error, ")
        where = ".".join(str(p) for p in err.get("loc", ()))
        lines.extend(msg.split("\n") if not where else [f"{where}: {msg}"])
    return lines


def _shared(name: str):
    return AliasChoices(f"CXC_{name}")


class ServiceSettings(BaseSettings):
    """Settings shared by every service. Subclasses set ``service`` and the env prefix."""

    # hide_input_in_errors: a refused setting's error must not carry the environment's values (secrets).
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True, hide_input_in_errors=True)

    service: str = "service"
    # prod unless said otherwise: only `cxc run` and the tests select dev/test (see the module docstring).
    env: Literal["dev", "test", "prod"] = Field("prod", validation_alias=_shared("ENV"))
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/postgres", validation_alias=_shared("DATABASE_URL")
    )
    kafka_bootstrap: str = Field("127.0.0.1:9092", validation_alias=_shared("KAFKA_BOOTSTRAP"))
    # Several programmes or environments on one Kafka cluster: a prefix for topics and consumer groups
    # (shared/messaging/namespace.py). Empty keeps the registry's names.
    topic_namespace: str = Field("", max_length=MAX_NAMESPACE_LENGTH, pattern=f"^$|{NAMESPACE_PATTERN}",
                                 validation_alias=_shared("TOPIC_NAMESPACE"))
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
    # /readyz reads the verdict of one long-lived metadata client probing this often (shared/messaging/kafka.py).
    broker_probe_interval_s: float = Field(2.0, gt=0, validation_alias=_shared("BROKER_PROBE_INTERVAL_S"))
    # Housekeeping (shared/housekeeping.py). Shared CXC_ names, not per service: one service's markers dedupe
    # the events of every other service's outbox, so all of them must agree on the horizons.
    outbox_retention_days: float = Field(7.0, gt=0, validation_alias=_shared("OUTBOX_RETENTION_DAYS"))
    processed_events_retention_days: float = Field(
        30.0, gt=0, validation_alias=_shared("PROCESSED_EVENTS_RETENTION_DAYS")
    )
    housekeeping_interval_s: float = Field(
        3600.0, gt=0, le=MARKER_MARGIN_DAYS * 86400, validation_alias=_shared("HOUSEKEEPING_INTERVAL_S")
    )
    housekeeping_batch_size: int = Field(1000, ge=1, le=100_000, validation_alias=_shared("HOUSEKEEPING_BATCH_SIZE"))
    # Request limits (shared/gate.py, shared/limits.py), per service: e.g. CXC_MATCHMAKING_MAX_BODY_BYTES.
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Request body cap (413 above it)")
    rate_limit_requests: int = Field(600, ge=1, description="Requests (batch items) per API key per window")
    rate_limit_window_s: int = Field(60, ge=1)
    unauthenticated_limit: int = Field(60, ge=1, description="401 answers per client address per window, then 429")
    max_concurrent_requests: int = Field(200, ge=1, description="Requests in flight (503 above it)")
    # How long a process trusts a bearer key it found valid without asking the database again (shared/auth.py
    # KeyCache): the bound on how late a revocation made elsewhere takes effect here. 0 turns the cache off.
    auth_cache_ttl_s: float = Field(5.0, ge=0, le=60)
    # uvicorn: open connections (503 above it), idle keep-alive, and the largest request head (431/400).
    max_connections: int = Field(1000, ge=1)
    keepalive_timeout_s: float = Field(5.0, gt=0)
    max_header_bytes: int = Field(16_384, ge=1024)
    # Routes only services may call (registration's contact and data-key lookups) are served on a listener of
    # their own, never on the public port, and still need the service token: CXC_<SERVICE>_INTERNAL_HOST/_PORT.
    internal_host: str = "127.0.0.1"
    internal_port: int | None = None
    # Service-to-service bearer token for registration's internal lookups (contacts, data keys), which keep
    # personal data out of events.
    internal_token: Secret = Field(None, validation_alias=_shared("INTERNAL_TOKEN"))
    # Where services reach registration's internal listener (not its public API).
    registration_url: str = Field("http://127.0.0.1:8011", validation_alias=_shared("REGISTRATION_URL"))
    # Registration's Ed25519 public key: replicas apply only apikey.* events it signed (shared/keysigning.py).
    # Not a secret, but required like one: without it a service cannot tell real keys from forged ones.
    key_signing_public_key: Secret = Field(None, validation_alias=_shared("KEY_SIGNING_PUBLIC_KEY"))

    @model_validator(mode="after")
    def _secrets_are_real(self):
        if problems := secret_problems(self, self.env):
            hint = ("" if self.env in DEV_ENVS else
                    f" (CXC_ENV is {self.env}: secrets must be long random values; only `cxc run` and the tests run "
                    "with CXC_ENV=dev/test)")
            raise InsecureConfiguration(
                f"{self.service} refuses to start: " + "; ".join(problems) + hint
            )
        return self

    @model_validator(mode="after")
    def _key_signing_key_is_ed25519(self):
        if self.key_signing_public_key is not None and self.key_signing_public_key.get_secret_value():
            from shared.keysigning import KeySigningError, load_public_key

            try:
                load_public_key(self.key_signing_public_key.get_secret_value())
            except KeySigningError as exc:
                raise InsecureConfiguration(f"{self.service} refuses to start: {exc}") from None
        return self

    @model_validator(mode="after")
    def _markers_outlive_the_outbox(self):
        # An outbox row can be published again until it is pruned (the relay is at-least-once; `cxc run`
        # replays whole outboxes), and only its marker makes a consumer skip it: markers must outlive the rows,
        # by a margin covering a housekeeping interval and clock skew between services.
        if self.processed_events_retention_days < self.outbox_retention_days + MARKER_MARGIN_DAYS:
            raise ValueError(
                f"{self.service} refuses to start: CXC_PROCESSED_EVENTS_RETENTION_DAYS "
                f"({self.processed_events_retention_days:g}) must be at least CXC_OUTBOX_RETENTION_DAYS "
                f"({self.outbox_retention_days:g}) + {MARKER_MARGIN_DAYS:g}, or a republished event would be "
                "applied twice"
            )
        return self

    @property
    def namespace(self) -> Namespace:
        return Namespace(self.topic_namespace)

    @property
    def db_schema(self) -> str:
        return self.service

    @property
    def source(self) -> str:
        return f"/cxc/{self.service}"


class SecretSettingsMixin(BaseSettings):
    """For services holding a signing secret (notifications: unsubscribe links, webhook fallback)."""

    signing_secret: Secret = None
