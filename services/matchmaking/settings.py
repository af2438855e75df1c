from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class MatchmakingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CXC_MATCHMAKING_", extra="ignore", frozen=True)

    service: str = "matchmaking"
    port: int = 8002
    request_ttl_hours: float = Field(72.0, gt=0, description="A pending meeting request expires after this")
    max_pending_requests: int = Field(20, ge=1, description="Pending requests one participant may have open")
    expiry_interval_s: float = Field(30.0, gt=0, description="How often the expiry sweep runs")
    schedule_time_limit_s: float = Field(8.0, gt=0, description="Search budget of one scheduler run")
