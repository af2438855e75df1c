"""Stands in for the Mailpit container: an SMTP server configured from Mailpit's compose environment.

It requires STARTTLS before anything else and a login, with the certificate files and credentials that
compose gives Mailpit (``MP_SMTP_TLS_CERT``/``_KEY``, ``MP_SMTP_AUTH``); if compose stops giving them, this
refuses to start, as the test must fail then. Accepted messages are written to OUTDIR as .eml files.

    python tests/deploy/mailpit_standin.py PORT OUTDIR   (configuration as JSON on stdin)
"""

from __future__ import annotations

import json
import signal
import ssl
import sys
import threading
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Store:
    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir

    async def handle_DATA(self, server, session, envelope) -> str:
        (self.outdir / f"{uuid.uuid4().hex}.eml").write_bytes(envelope.content)
        return "250 Message accepted for delivery"


def main() -> None:
    port, outdir = int(sys.argv[1]), Path(sys.argv[2])
    config = json.load(sys.stdin)
    outdir.mkdir(parents=True, exist_ok=True)
    missing = [k for k in ("MP_SMTP_TLS_CERT", "MP_SMTP_TLS_KEY", "MP_SMTP_AUTH") if not config.get(k)]
    if missing or str(config.get("MP_SMTP_REQUIRE_STARTTLS", "")).lower() not in ("1", "true"):
        sys.exit(f"mailpit stand-in: compose must configure STARTTLS and AUTH for Mailpit; missing {missing} "
                 f"or MP_SMTP_REQUIRE_STARTTLS")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config["MP_SMTP_TLS_CERT"], config["MP_SMTP_TLS_KEY"])
    accounts = dict(pair.split(":", 1) for pair in config["MP_SMTP_AUTH"].split())

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and accounts.get(auth_data.login.decode()) == \
            auth_data.password.decode()
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        Store(outdir), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
        auth_required=True, auth_require_tls=True, authenticator=authenticate, server_hostname="mailpit",
    )
    controller.start()
    print(f"mailpit stand-in on 127.0.0.1:{port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
