"""The dashboard in a real headless Chromium: the numbers a coordinator sees are the API's numbers.

Chromium is a Debian package (`make test` installs it when missing and run as root). The screenshot is
kept in the test's tmp dir, or in $CXC_SCREENSHOT_DIR when set, for a human to look at.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from services.reporting.adapters import projection
from services.reporting.bootstrap import build
from services.reporting.settings import ReportingSettings
from shared import auth as api_keys
from tests.reporting_history import generate, serving

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class _Kpis(HTMLParser):
    """Every element with data-kpi: (path, data-value, visible text)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[list[str]] = []
        self._open: list[list[str] | None] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-kpi" in a:
            item = [a["data-kpi"], a.get("data-value"), ""]
            self.found.append(item)
            self._open.append(item)
        else:
            self._open.append(None)

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for item in self._open:
            if item is not None:
                item[2] += data


def chromium(profile: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, timeout=timeout, check=True,
    )


def lookup(board: dict, path: str):
    """The API's value at a dotted path; a cluster absent from a by_* map has 0 (the chart shows the bar)."""
    *parents, leaf = path.split(".")
    value = board
    for part in parents:
        value = value[part]
    return value.get(leaf, 0) if parents and parents[-1].startswith("by_") else value[leaf]


def digits(text: str) -> str:
    return re.sub(r"[^0-9.]", "", text)


@pytest.fixture
async def served(database_url, kafka_bootstrap):
    if CHROMIUM is None:
        # CI installs it (make test): there a missing prerequisite is a failure, never a silent skip.
        (pytest.fail if os.environ.get("CI") else pytest.skip)("chromium is not installed (make test installs it with apt-get when run as root)")
    service = build(ReportingSettings(database_url=database_url, kafka_bootstrap=kafka_bootstrap,
                                      consumer_session_timeout_ms=6000))
    history = generate(participants=120, exchanges=60, meetings=40)
    async with serving(service.app()) as url:
        async with service.pool.acquire() as conn, conn.transaction():
            for e in history.delivery:
                await projection.apply(conn, e)
            coordinator = (await api_keys.issue_key(conn, "silicon-saxony", "coordinator", None, source="/test"))[1]
        yield url, {"Authorization": f"Bearer {coordinator}"}


async def signed_in_link(client: httpx.AsyncClient) -> str:
    """A one-time link that signs the browser in (a session cookie) and lands on the dashboard."""
    r = await client.post("/v1/dashboard-links")
    assert r.status_code == 201, r.text
    return f"{client.base_url}".rstrip("/") + r.json()["path"]


async def test_dashboard_in_chromium_shows_the_numbers_of_the_api(served, tmp_path):
    url, coordinator = served
    async with httpx.AsyncClient(base_url=url, headers=coordinator) as client:
        board = (await client.get("/v1/kpis")).json()
        gaia = (await client.get("/v1/kpis", params={"cluster": "gaia"})).json()
        gaia_html = (await client.get("/", params={"cluster": "gaia"})).text
        dom_link, shot_link = await signed_in_link(client), await signed_in_link(client)
    dom = (await asyncio.to_thread(chromium, tmp_path / "profile", "--dump-dom", dom_link)).stdout.decode()

    # the page as Chromium rendered it, and (without a second browser start) a cluster's page as served
    for html, expected in [(dom, board), (gaia_html, gaia)]:
        parser = _Kpis()
        parser.feed(html)
        shown = {path: (value, text) for path, value, text in parser.found}
        must_show = {"exchanges.total", "exchanges.smes", "participants.total", "countries_reached", "meetings.held",
                     "meetings.requested", "meetings.accepted", "meetings.scheduled", "satisfaction.average",
                     "lump_sums_eur.committed", "lump_sums_eur.paid", "meetings.acceptance_rate"}
        assert must_show <= shown.keys()
        for path, (value, text) in shown.items():
            if path == "as_of.last_event_time":
                assert text.replace(" ", "T") == expected["as_of"]["last_event_time"][:16]
                continue
            truth = lookup(expected, path)
            assert value == ("" if truth is None else str(truth)), path
            if path == "meetings.acceptance_rate":
                assert digits(text) == f"{truth * 100:.1f}", path
            elif truth is not None:
                assert digits(text) == digits(str(truth)), (path, text)

    shots = Path(os.environ.get("CXC_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    png = shots / "dashboard.png"
    await asyncio.to_thread(chromium, tmp_path / "profile", f"--screenshot={png}", "--window-size=1400,1500", shot_link)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000, "a rendered page, not a blank one"
    print(f"dashboard screenshot: {png}")
