from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class RegistrationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CXC_REGISTRATION_", extra="ignore", frozen=True)

    service: str = "registration"
    port: int = 8001
    max_body_bytes: int = 1_000_000
