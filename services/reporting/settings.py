from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CXC_REPORTING_", extra="ignore", frozen=True)

    service: str = "reporting"
    port: int = 8004
    # Serve the programme-level scoreboard (small cells suppressed, no cluster breakdown) without a key.
    public_scoreboard: bool = False
    # Browser sign-in (entrypoints/signin.py): how long a session cookie and a one-time dashboard link live.
    session_ttl_s: float = Field(8 * 3600.0, gt=0)
    link_ttl_s: float = Field(600.0, gt=0)
