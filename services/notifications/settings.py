from pydantic_settings import SettingsConfigDict

from shared.settings import SecretSettingsMixin, ServiceSettings


class NotificationsSettings(SecretSettingsMixin, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CXC_NOTIFICATIONS_", extra="ignore", frozen=True)

    service: str = "notifications"
    port: int = 8003
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    mail_from: str = "ClusterXchange <no-reply@clusterxchange.eu>"
