import secrets
import subprocess
import sys

import pytest
from pydantic import ValidationError

from services.notifications.settings import NotificationsSettings
from services.registration.settings import RegistrationSettings
from services.reporting.settings import ReportingSettings
from shared.settings import placeholder_reason

REAL = secrets.token_urlsafe(32)


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


def test_without_cxc_env_a_service_runs_as_prod_and_refuses_missing_secrets(monkeypatch):
    monkeypatch.delenv("CXC_ENV")
    monkeypatch.delenv("CXC_INTERNAL_TOKEN")
    monkeypatch.delenv("CXC_NOTIFICATIONS_SIGNING_SECRET")
    with pytest.raises(ValidationError) as refused:
        NotificationsSettings()
    message = str(refused.value)
    assert "CXC_INTERNAL_TOKEN is not set" in message and "CXC_NOTIFICATIONS_SIGNING_SECRET is not set" in message
    monkeypatch.setenv("CXC_INTERNAL_TOKEN", REAL)
    monkeypatch.setenv("CXC_NOTIFICATIONS_SIGNING_SECRET", secrets.token_urlsafe(32))
    assert NotificationsSettings().env == "prod"


def test_dev_and_test_need_secrets_too_but_accept_dev_values(monkeypatch):
    monkeypatch.setenv("CXC_ENV", "dev")
    monkeypatch.delenv("CXC_INTERNAL_TOKEN")
    with pytest.raises(ValidationError, match="CXC_INTERNAL_TOKEN is not set"):
        ReportingSettings()
    monkeypatch.setenv("CXC_INTERNAL_TOKEN", "dev-internal-token")
    assert ReportingSettings().internal_token.get_secret_value() == "dev-internal-token"


@pytest.mark.parametrize("value", [
    "dev-internal-token", "changeme", "secret", "password", "CHANGEME", "test", "example",
    "a" * 48, "abc" * 16, "0123456789abcdef" * 3, "test-internal-token-of-the-test-suite",
    "dev-" + REAL, "please-change-me-" + REAL, "…", "${CXC_INTERNAL_TOKEN}", REAL[:31],
])
def test_placeholders_are_refused_in_prod_and_the_message_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("CXC_ENV", "prod")
    monkeypatch.setenv("CXC_INTERNAL_TOKEN", value)
    with pytest.raises(ValidationError, match="CXC_INTERNAL_TOKEN") as refused:
        ReportingSettings()
    assert "input_value" not in str(refused.value), "the refusal must not echo the environment's values"
    if len(set(value)) > 20:
        assert value not in str(refused.value)


def test_generated_secrets_pass():
    for _ in range(200):
        assert placeholder_reason(secrets.token_urlsafe(32)) is None
        assert placeholder_reason(secrets.token_hex(16)) is None


def test_secrets_never_show_in_repr_or_dumps(monkeypatch):
    monkeypatch.setenv("CXC_INTERNAL_TOKEN", REAL)
    s = ReportingSettings()
    assert REAL not in repr(s) and REAL not in str(s) and REAL not in s.model_dump_json()
    assert s.internal_token.get_secret_value() == REAL


def test_a_service_without_secrets_exits_with_one_readable_message(monkeypatch, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ".", "CXC_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"}
    done = subprocess.run([sys.executable, "-m", "services.notifications"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "CXC_INTERNAL_TOKEN is not set" in done.stderr and "CXC_NOTIFICATIONS_SIGNING_SECRET" in done.stderr
    assert len(done.stderr.splitlines()) <= 3


def test_bad_values_fail_fast(monkeypatch):
    monkeypatch.setenv("CXC_REGISTRATION_PORT", "not-a-port")
    with pytest.raises(ValidationError):
        RegistrationSettings()
