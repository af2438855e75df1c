"""Housekeeping settings: safe defaults, and a marker retention that could forget events still republishable
is refused at start."""

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.matchmaking.settings import MatchmakingSettings
from services.reporting.settings import ReportingSettings
from shared.housekeeping import marker_horizon
from shared.settings import config_errors


def test_defaults_keep_outbox_a_week_and_markers_a_month_and_sweep_hourly():
    s = ReportingSettings()
    assert (s.outbox_retention_days, s.processed_events_retention_days, s.housekeeping_interval_s) == (7, 30, 3600)


def test_markers_shorter_than_outbox_retention_plus_margin_are_refused(monkeypatch):
    monkeypatch.setenv("CXC_OUTBOX_RETENTION_DAYS", "14")
    monkeypatch.setenv("CXC_PROCESSED_EVENTS_RETENTION_DAYS", "14.5")
    with pytest.raises(ValidationError) as refused:
        MatchmakingSettings()
    [line] = config_errors(refused.value)
    assert line.startswith("matchmaking refuses to start: CXC_PROCESSED_EVENTS_RETENTION_DAYS (14.5) must be at "
                           "least CXC_OUTBOX_RETENTION_DAYS (14) + 1")
    monkeypatch.setenv("CXC_PROCESSED_EVENTS_RETENTION_DAYS", "15")
    assert MatchmakingSettings().processed_events_retention_days == 15


def test_a_sweep_interval_longer_than_the_margin_is_refused():
    with pytest.raises(ValidationError):
        ReportingSettings(housekeeping_interval_s=2 * 86400)
    with pytest.raises(ValidationError):
        ReportingSettings(housekeeping_batch_size=0)


def test_ops_tools_read_the_marker_horizon_the_services_use():
    assert marker_horizon({}) == timedelta(days=30)
    assert marker_horizon({"CXC_PROCESSED_EVENTS_RETENTION_DAYS": "45"}) == timedelta(days=45)
    with pytest.raises(ValueError):
        marker_horizon({"CXC_PROCESSED_EVENTS_RETENTION_DAYS": "0"})


def test_cxc_run_keeps_its_outboxes_because_they_are_its_only_durable_log(tmp_path, monkeypatch):
    from cxc.devstack import dev_environment

    env = dev_environment(tmp_path, environ={})
    for name in ("CXC_OUTBOX_RETENTION_DAYS", "CXC_PROCESSED_EVENTS_RETENTION_DAYS"):
        monkeypatch.setenv(name, env[name])
    s = ReportingSettings()
    assert s.outbox_retention_days >= 36500 and s.processed_events_retention_days > s.outbox_retention_days
    chosen = dev_environment(tmp_path, environ={"CXC_OUTBOX_RETENTION_DAYS": "3"})
    assert "CXC_OUTBOX_RETENTION_DAYS" not in chosen, "an operator's own choice wins"


def test_compose_keeps_consumer_offsets_longer_than_the_marker_horizon():
    from pathlib import Path

    import yaml

    compose = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())
    kafka = next(s for s in compose["services"].values() if "KAFKA_PROCESS_ROLES" in (s.get("environment") or {}))
    offsets_days = int(kafka["environment"]["KAFKA_OFFSETS_RETENTION_MINUTES"]) / (24 * 60)
    horizons = {float(s["environment"].get("CXC_PROCESSED_EVENTS_RETENTION_DAYS",
                                           ReportingSettings.model_fields["processed_events_retention_days"].default))
                for s in compose["services"].values()
                if isinstance(s.get("environment"), dict) and "CXC_DATABASE_URL" in s["environment"]}
    assert horizons and offsets_days > max(horizons)
