from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CXC_REPORTING_", extra="ignore", frozen=True)

    service: str = "reporting"
    port: int = 8004
