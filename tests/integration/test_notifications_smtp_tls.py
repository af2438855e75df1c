"""Mail to a relay as production has one: STARTTLS or implicit TLS with a verified certificate and a login,
against a real aiosmtpd server (tests/smtp_server.py) and real PostgreSQL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from tests.support.notifications_harness import harness
from tests.support.smtp_server import SmtpTestServer

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(database_url):
    h = await harness(database_url)
    try:
        yield h
    finally:
        await h.pool.close()


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
async def test_mail_goes_over_tls_with_a_login_and_a_verified_certificate(world, tls):
    with SmtpTestServer(tls=tls) as smtp:
        pid = world.contacts.add("anna@score.example")
        await world.plan(pid)
        assert await world.email_sender(**smtp.settings_kwargs()).loop.drain_once() == 1
        [row] = await world.rows()
        assert row["status"] == "sent" and row["attempts"] == 1
        assert smtp.logins == [(smtp.username, True)]
        [msg] = smtp.to("anna@score.example")
        assert msg["Subject"] == "Your exchange has been cancelled"


async def test_a_wrong_password_is_retried_with_backoff_and_says_why_then_mail_flows_once_fixed(world, caplog):
    with SmtpTestServer() as smtp:
        pid = world.contacts.add("anna@score.example")
        await world.plan(pid)
        with caplog.at_level(logging.ERROR, logger="services.notifications"):
            await world.email_sender(**smtp.settings_kwargs(smtp_password="not-the-password")).loop.drain_once()
        [row] = await world.rows()
        assert row["status"] == "planned" and row["attempts"] == 1, "retried later, not dropped"
        assert row["due_at"] > datetime.now(UTC), "with backoff"
        assert "535" in row["last_error"] and "login refused" in row["last_error"]
        assert "CXC_NOTIFICATIONS_SMTP_PASSWORD" in row["last_error"]
        assert any("SMTP relay setup needs attention" in r.getMessage() for r in caplog.records), "logged as an error"
        assert smtp.logins and not any(ok for _, ok in smtp.logins) and smtp.messages == []

        await world.pool.execute("UPDATE deliveries SET due_at = now()")
        assert await world.email_sender(**smtp.settings_kwargs()).loop.drain_once() == 1
        [row] = await world.rows()
        assert row["status"] == "sent" and row["attempts"] == 2 and len(smtp.messages) == 1


async def test_a_relay_without_starttls_hears_neither_the_login_nor_the_mail(world):
    """The plain server even offers AUTH in clear: a client set to starttls must say nothing to it."""
    with SmtpTestServer(tls="none") as plain, SmtpTestServer() as tls_server:
        pid = world.contacts.add("anna@score.example")
        await world.plan(pid)
        creds = tls_server.settings_kwargs(smtp_host=plain.host, smtp_port=plain.port)
        await world.email_sender(**creds).loop.drain_once()
        [row] = await world.rows()
        assert row["status"] == "planned" and "STARTTLS" in row["last_error"]
        assert plain.logins == [] and plain.mail_from_seen == 0 and plain.messages == []


async def test_an_untrusted_certificate_is_refused_before_the_login_unless_its_ca_is_configured(world):
    with SmtpTestServer() as smtp:
        pid = world.contacts.add("anna@score.example")
        await world.plan(pid)
        await world.email_sender(**smtp.settings_kwargs(smtp_ca_file=None)).loop.drain_once()
        [row] = await world.rows()
        assert row["status"] == "planned" and "certificate not trusted" in row["last_error"]
        assert smtp.logins == [] and smtp.messages == []


async def test_the_plain_catcher_of_cxc_run_still_receives_mail(world, tmp_path, monkeypatch):
    from services.notifications.adapters.mailcatcher import start_for_devstack
    from services.notifications.settings import NotificationsSettings
    from cxc.infra.embedded import free_port

    monkeypatch.delenv("CXC_NOTIFICATIONS_SMTP_HOST", raising=False)
    monkeypatch.setenv("CXC_NOTIFICATIONS_SMTP_TLS", "starttls")
    monkeypatch.setenv("CXC_NOTIFICATIONS_SMTP_PORT", str(free_port()))
    catcher = start_for_devstack(tmp_path)
    try:
        from_env = NotificationsSettings(**world.settings.model_dump(exclude={"smtp_tls", "smtp_port"}))
        assert from_env.smtp_tls == "none" and from_env.smtp_port == catcher.port
        pid = world.contacts.add("anna@score.example")
        await world.plan(pid)
        assert await world.email_sender(smtp_tls=from_env.smtp_tls, smtp_port=from_env.smtp_port).loop.drain_once()
        assert len(catcher.to("anna@score.example")) == 1
    finally:
        catcher.stop()
