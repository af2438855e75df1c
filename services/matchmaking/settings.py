from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class MatchmakingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CXC_MATCHMAKING_", extra="ignore", frozen=True)

    service: str = "matchmaking"
    port: int = 8002
