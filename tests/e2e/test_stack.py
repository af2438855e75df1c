"""End to end: ``cxc run`` starts embedded PostgreSQL, the broker and the four services as processes."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from cxc.infra.embedded import port_open
from tests.support.payloads import PARTICIPANT
from tests.support.polling import poll
from tests.support.stack import running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(stack_infra):
    with running_stack("cxc-e2e-", stack_infra) as s:
        yield s


def kpis(stack) -> dict:
    return httpx.get(f"{stack.url('reporting')}/v1/kpis", headers=stack.key("coordinator"), timeout=5).json()


def test_dev_json_lists_urls_and_keys(stack):
    assert stack.dev["urls"]["registration"] == stack.url("registration")
    assert {"coordinator", "ops", "silicon-saxony", "gaia"} <= stack.dev["keys"].keys()


def test_registration_is_counted_by_reporting_and_seen_by_every_consumer(stack):
    before = kpis(stack)["participants"]["total"]
    started = time.monotonic()
    r = httpx.post(f"{stack.url('registration')}/v1/participants", json=PARTICIPANT, headers=stack.key("mazovia-ict"))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    counted = poll(lambda: (k := kpis(stack))["participants"]["total"] == before + 1 and k)
    print(f"registration → KPI in {time.monotonic() - started:.3f}s")
    assert counted["participants"]["by_country"]["PL"] >= 1
    assert counted["participants"]["by_cluster"]["mazovia-ict"] >= 1
    profile = poll(lambda: (p := httpx.get(f"{stack.url('matchmaking')}/v1/profiles/{pid}",
                                            headers=stack.key("mazovia-ict"))).status_code == 200 and p)
    assert profile.json()["cluster_id"] == "mazovia-ict"
    assert httpx.get(f"{stack.url('matchmaking')}/v1/profiles/{pid}", headers=stack.key("gaia")).status_code == 404
    # received-events exists in dev builds (cxc run) only, for ops
    seen = poll(lambda: httpx.get(f"{stack.url('notifications')}/v1/received-events", params={"subject": pid},
                                  headers=stack.key("ops")).json())
    assert seen[0]["event_type"] == "participant.registered"


def test_invalid_registration_changes_nothing(stack):
    bad = httpx.post(
        f"{stack.url('registration')}/v1/participants", json={**PARTICIPANT, "sectors": ["not-nace"]},
        headers=stack.key("gaia"),
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "sectors.0"
    good = httpx.post(f"{stack.url('registration')}/v1/participants", json=PARTICIPANT, headers=stack.key("gaia"))
    assert good.status_code == 201
    counted = poll(lambda: kpis(stack)["participants"]["by_cluster"].get("gaia"))
    assert counted == 1, "only the valid registration may be counted"


def test_a_crashed_service_is_restarted_by_the_supervisor(stack):
    first = httpx.get(f"{stack.url('reporting')}/healthz").json()["pid"]
    os.kill(first, signal.SIGKILL)

    def restarted():
        try:
            return httpx.get(f"{stack.url('reporting')}/readyz", timeout=2).status_code == 200 and (
                httpx.get(f"{stack.url('reporting')}/healthz").json()["pid"] != first
            )
        except httpx.HTTPError:
            return False

    poll(restarted, timeout=60, interval=0.2)
    r = httpx.post(f"{stack.url('registration')}/v1/participants", json=PARTICIPANT, headers=stack.key("pole-scs"))
    assert r.status_code == 201
    poll(lambda: kpis(stack)["participants"]["by_cluster"].get("pole-scs") == 1, timeout=30)


def test_ctrl_c_stops_everything_and_data_survives_a_restart(stack):
    pid = httpx.post(
        f"{stack.url('registration')}/v1/participants", json=PARTICIPANT, headers=stack.key("cdti-sofia")
    ).json()["id"]
    keys = stack.dev["keys"]
    assert stack.stop() == 0
    for port in [*stack.ports.values(), *stack.infra_ports.values()]:
        assert not port_open(port), f"port {port} still open after Ctrl-C"

    stack.start()
    try:
        assert stack.dev["keys"] == keys, "dev keys are kept across restarts"
        r = httpx.get(f"{stack.url('registration')}/v1/participants/{pid}", headers=stack.key("cdti-sofia"))
        assert r.status_code == 200
        # The broker forgot its log; reporting's projection lives in PostgreSQL and still counts.
        assert kpis(stack)["participants"]["by_cluster"].get("cdti-sofia") == 1
    finally:
        assert stack.stop() == 0
