import pytest
from pydantic import ValidationError

from services.notifications.settings import NotificationsSettings
from services.registration.settings import RegistrationSettings
from services.reporting.settings import ReportingSettings


def test_shared_infrastructure_comes_from_cxc_variables(monkeypatch):
    monkeypatch.setenv("CXC_DATABASE_URL", "postgresql://db.example/cxc")
    monkeypatch.setenv("CXC_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("CXC_REPORTING_PORT", "9004")
    s = ReportingSettings()
    assert (s.database_url, s.kafka_bootstrap, s.port) == ("postgresql://db.example/cxc", "kafka:9092", 9004)
    assert RegistrationSettings().port == 8001, "another service's port variable must not leak"


def test_default_ports_follow_the_api_contract():
    assert [cls().port for cls in (RegistrationSettings, ReportingSettings)] == [8001, 8004]
    assert NotificationsSettings().port == 8003


def test_placeholder_secret_is_rejected_in_prod(monkeypatch):
    monkeypatch.setenv("CXC_ENV", "prod")
    with pytest.raises(ValidationError, match="CXC_INTERNAL_TOKEN"):
        ReportingSettings()
    monkeypatch.setenv("CXC_INTERNAL_TOKEN", "a-real-service-token-0123456789")
    assert ReportingSettings().env == "prod"
    with pytest.raises(ValidationError, match="signing secret"):
        NotificationsSettings()
    monkeypatch.setenv("CXC_NOTIFICATIONS_SIGNING_SECRET", "k3y-from-the-vault-0123456789")
    assert NotificationsSettings().env == "prod"


def test_bad_values_fail_fast(monkeypatch):
    monkeypatch.setenv("CXC_REGISTRATION_PORT", "not-a-port")
    with pytest.raises(ValidationError):
        RegistrationSettings()
