import re
import ssl
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.settings import SecretRule, SecretSettingsMixin, ServiceSettings

# "Name <local@domain>" or "local@domain"; the name without @, angle brackets, quotes or line breaks.
_MAILBOX = re.compile(r'\s*(?:[^<>@"\x00-\x1f\x7f]*<[^<>@\s]+@[^<>@\s]+>|[^<>@\s]+@[^<>@\s]+)\s*')


class NotificationsSettings(SecretSettingsMixin, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CXC_NOTIFICATIONS_", extra="ignore", frozen=True)

    service: str = "notifications"
    port: int = 8003
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_timeout_s: float = 20.0
    # starttls by default: a relay that does not offer STARTTLS is refused (nothing is sent, no login in
    # clear). "implicit" is TLS from the first byte (port 465); "none" only for a local catcher
    # (`cxc run` sets it for its own) and refuses a username. Certificates are always verified, against
    # the system roots plus smtp_ca_file when set (a private CA, PEM).
    smtp_tls: Literal["none", "starttls", "implicit"] = "starttls"
    smtp_username: str | None = None
    # Issued by the mail provider, so a shorter minimum than secrets this platform generates.
    smtp_password: Annotated[SecretStr | None, SecretRule(min_length=12, required=False)] = None
    smtp_ca_file: Path | None = None
    mail_from: str = "ClusterXchange <no-reply@clusterxchange.eu>"
    # Base of links in mails (unsubscribe); the address participants reach this service at.
    public_url: str = "http://127.0.0.1:8003"
    # How often the senders look for due deliveries, and how many they take at once.
    poll_interval_s: float = 0.5
    batch_size: int = 20
    # A claimed delivery whose sender vanished (crash) is taken again after this lease. It must be far
    # longer than one SMTP or webhook attempt, or a slow send could be claimed twice.
    lease_s: float = 120.0
    webhook_timeout_s: float = 10.0
    # Webhook requests in flight at once, and at most this many of them to one subscription, so endpoints
    # that hang hold a few slots for one timeout each and the others keep flowing.
    webhook_concurrency: int = 40
    webhook_per_endpoint: int = 4
    # Destination policy (domain/destinations.py): https only and public addresses only. http is for local
    # development; the allowed list (comma-separated networks such as 10.20.0.0/16 or 127.0.0.1, and host
    # names) exempts destinations an operator trusts, e.g. a mock partner inside the network.
    webhook_allow_http: bool = False
    webhook_allowed_destinations: Annotated[tuple[str, ...], NoDecode] = ()
    webhook_max_per_cluster: int = Field(20, ge=1)
    # After a secret rotation the old secret keeps signing (a second signature) this long.
    webhook_rotation_overlap_s: float = Field(86_400.0, ge=0)
    contact_timeout_s: float = 5.0
    # Retries: exponential backoff from retry_base_s, capped at retry_max_s, given up after give_up_after_s.
    retry_base_s: float = 10.0
    retry_max_s: float = 3600.0
    give_up_after_s: float = 86_400.0
    # The digest of unanswered meeting requests: looked for this often, for requests at least this old.
    digest_interval_s: float = 3600.0
    digest_min_age_s: float = 86_400.0

    @field_validator("webhook_allowed_destinations", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @field_validator("mail_from")
    @classmethod
    def _one_plain_sender(cls, value: str) -> str:
        if not _MAILBOX.fullmatch(value):
            raise ValueError("CXC_NOTIFICATIONS_MAIL_FROM must be 'Name <address>' or 'address', on one line")
        return value

    @model_validator(mode="after")
    def _smtp_login_only_over_tls(self):
        if bool(self.smtp_username) != bool(self.smtp_password and self.smtp_password.get_secret_value()):
            raise ValueError("set both CXC_NOTIFICATIONS_SMTP_USERNAME and CXC_NOTIFICATIONS_SMTP_PASSWORD, or neither")
        if self.smtp_username and self.smtp_tls == "none":
            raise ValueError("CXC_NOTIFICATIONS_SMTP_TLS=none would send the SMTP password in clear; "
                             "use starttls or implicit")
        if self.smtp_ca_file is not None:
            try:
                ssl.create_default_context().load_verify_locations(cafile=str(self.smtp_ca_file))
            except (OSError, ssl.SSLError):
                raise ValueError(f"CXC_NOTIFICATIONS_SMTP_CA_FILE {self.smtp_ca_file} is not a readable PEM "
                                 "certificate file") from None
        return self

    @model_validator(mode="after")
    def _attempts_end_inside_the_lease(self):
        slowest = max(self.smtp_timeout_s + self.contact_timeout_s, self.webhook_timeout_s)
        if slowest >= self.lease_s / 2:
            raise ValueError(f"lease_s ({self.lease_s}) must exceed twice the longest attempt ({slowest}s)")
        return self
