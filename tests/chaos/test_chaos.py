"""Chaos: the whole system as real processes (`cxc run`), real load through the ingress API, real faults,
then the final state compared with the truth the test kept itself.

Invariants after every scenario (cumulative over the module):
- every acknowledged registration exists once in registration's database;
- exactly one participant.registered event id per acknowledged participant on the topic;
- each counted once by reporting, and the KPI total equals the truth exactly;
- no outbox row left unpublished, nothing valid in a dead-letter topic.
A summary table is written to docs/reliability.md from the actual run.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from cxc.devstack import dev_environment
from cxc.infra.embedded import EmbeddedPostgres, free_port
from tests.support.payloads import PARTICIPANT
from tests.support.stack import Stack, running_stack

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
RESULTS: list[dict] = []


class Truth:
    """What the partners were told: external ref → participant id, for every acknowledged request."""

    def __init__(self) -> None:
        self.acked: dict[str, str] = {}
        self.attempts = 0
        self.failures = 0


async def drive(stack: Stack, truth: Truth, n: int, *, concurrency: int = 16, on_progress=None) -> None:
    """Post n registrations like partners do: retry on errors and timeouts with the same external ref and
    Idempotency-Key until acknowledged."""
    keys = [k for c, k in stack.dev["keys"].items() if c not in ("coordinator", "ops")]
    refs = iter(range(n))
    done = 0
    url = f"{stack.url('registration')}/v1/participants"

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        for i in refs:
            ref = f"chaos-{uuid.uuid4()}"
            key = keys[i % len(keys)]
            body = {**PARTICIPANT, "external_ref": ref, "name": f"Chaos Company {i}"}
            headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": ref}
            give_up = time.monotonic() + 120
            while True:
                assert time.monotonic() < give_up, "registration did not accept a request for 2 minutes"
                truth.attempts += 1
                try:
                    r = await client.post(url, json=body, headers=headers)
                    if r.status_code in (200, 201):
                        truth.acked[ref] = r.json()["id"]
                        break
                    assert r.status_code >= 500 or r.status_code == 429, r.text  # never a client error
                except httpx.HTTPError:
                    pass
                truth.failures += 1
                await asyncio.sleep(0.2)
            done += 1
            if on_progress:
                await on_progress(done)

    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))


async def settle_and_check(stack: Stack, truth: Truth, scenario: str, faults: str, timeout: float = 120) -> None:
    dsn = stack.dev["database_url"]
    ids = list(truth.acked.values())
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while True:
            pending = await conn.fetchval("SELECT count(*) FROM registration.outbox WHERE published_at IS NULL")
            counted = kpi_total(stack) - stack.baseline_total  # reporting's own word, through its API
            if (pending == 0 and counted == len(ids)) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        in_registration = await conn.fetch(
            "SELECT external_ref, count(*) AS n FROM registration.participants WHERE external_ref = ANY($1) "
            "GROUP BY external_ref", list(truth.acked),
        )
        stuck = await conn.fetchval(
            "SELECT count(*) FROM registration.outbox WHERE published_at IS NULL AND created_at < now() - interval '5 s'"
        )
    finally:
        await conn.close()
    per_participant = await events_per_participant(stack.dev["kafka_bootstrap"], set(ids))
    dead = await dead_letters(stack.dev["kafka_bootstrap"])
    total = kpi_total(stack)

    lost = max(len(ids) - counted, 0)
    duplicated = sum(r["n"] - 1 for r in in_registration) + sum(n - 1 for n in per_participant.values() if n > 1)
    RESULTS.append({
        "scenario": scenario, "requests": truth.attempts, "acknowledged": len(ids), "faults": faults,
        "retried": truth.failures, "lost": lost + (len(ids) - len(in_registration)), "duplicated": duplicated,
    })
    assert len(in_registration) == len(ids), "an acknowledged registration is missing from registration's DB"
    assert all(r["n"] == 1 for r in in_registration)
    assert stuck == 0, "outbox rows stuck unpublished"
    missing_on_topic = [i for i in ids if per_participant.get(i, 0) == 0]
    assert not missing_on_topic, f"{len(missing_on_topic)} acknowledged registrations never reached the topic"
    assert all(n == 1 for n in per_participant.values()), "one registration produced several distinct events"
    assert counted == len(ids), f"reporting counts {counted} new participants for {len(ids)} acknowledged"
    assert total == stack.baseline_total + len(ids), "KPI total differs from the truth"
    assert dead == 0, f"{dead} messages in dead-letter topics"


async def events_per_participant(bootstrap: str, ids: set[str]) -> dict[str, int]:
    """Distinct participant.registered event ids per participant on the topic (redeliveries of the same
    event id are allowed: at-least-once transport, exactly-once effect)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition("cxc.participants", p) for p in consumer.partitions_for_topic("cxc.participants") or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = {tp: pos for tp, pos in (await consumer.end_offsets(tps)).items()}
        seen: dict[str, set[str]] = collections.defaultdict(set)
        idle = 0
        while idle < 6:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            if not batch:
                idle += 1
                continue
            idle = 0
            for records in batch.values():
                for r in records:
                    event = json.loads(r.value)
                    if event["type"] == "participant.registered" and event["subject"] in ids:
                        seen[event["subject"]].add(event["id"])
        del ends
        return {pid: len(events) for pid, events in seen.items()}
    finally:
        await consumer.stop()


async def dead_letters(bootstrap: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        total = 0
        for topic in ("cxc.participants.dlq", "cxc.keys.dlq"):
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            if not tps:
                continue
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while batch := await consumer.getmany(timeout_ms=1000):
                total += sum(len(v) for v in batch.values())
        return total
    finally:
        await consumer.stop()


def kpi_total(stack: Stack) -> int:
    for _ in range(50):
        try:
            return httpx.get(f"{stack.url('reporting')}/v1/kpis", headers=stack.key("coordinator"),
                             timeout=10).json()["participants"]["total"]
        except httpx.HTTPError:  # reporting may be restarting
            time.sleep(0.2)
    raise AssertionError("reporting does not answer")


def service_pid(stack: Stack, service: str) -> int:
    return httpx.get(f"{stack.url(service)}/healthz", timeout=5).json()["pid"]


def wait_healthy(stack: Stack, service: str, not_pid: int | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{stack.url(service)}/readyz", timeout=2).status_code == 200 and (
                not_pid is None or service_pid(stack, service) != not_pid
            ):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{service} did not come back")


@pytest.fixture(scope="module")
def stack():
    # The load is the point here: no rate limit.
    with running_stack("cxc-chaos-", {"CXC_REGISTRATION_RATE_LIMIT_REQUESTS": "100000000"}) as s:
        s.baseline_total = kpi_total(s)
        yield s
    write_summary()


@pytest.fixture(scope="module")
def truth() -> Truth:
    return Truth()


async def test_kill_9_of_each_service_during_5000_requests(stack, truth):
    victims = iter(["registration", "matchmaking", "notifications", "reporting"])
    marks = iter([1000, 2000, 3000, 4000])
    next_mark = [next(marks)]

    async def on_progress(done: int) -> None:
        if next_mark[0] and done >= next_mark[0]:
            victim = next(victims)
            os.kill(service_pid(stack, victim), signal.SIGKILL)
            next_mark[0] = next(marks, 0)

    await drive(stack, truth, 5000, on_progress=on_progress)
    await settle_and_check(stack, truth, "kill -9 registration, matchmaking, notifications, reporting", "4 × SIGKILL")


async def test_broker_paused_for_10_seconds(stack, truth):
    broker_pid = int(Path(stack.dev["embedded"]["broker_pid_file"]).read_text())

    async def pause() -> None:
        await asyncio.sleep(1)
        os.kill(broker_pid, signal.SIGSTOP)
        await asyncio.sleep(10)
        os.kill(broker_pid, signal.SIGCONT)

    await asyncio.gather(drive(stack, truth, 1000, concurrency=8), pause())
    await settle_and_check(stack, truth, "broker SIGSTOP 10 s, SIGCONT", "1 × SIGSTOP 10 s", timeout=180)


async def test_broker_restart_loses_its_log_and_the_outboxes_refill_it(stack, truth):
    """The embedded broker is memory-only: a restart empties every topic. `cxc run` restarts it and marks
    every outbox row unpublished, so the full history is published again and consumers deduplicate."""
    pid_file = Path(stack.dev["embedded"]["broker_pid_file"])
    old = int(pid_file.read_text())

    async def restart() -> None:
        await asyncio.sleep(1)
        os.kill(old, signal.SIGKILL)

    await asyncio.gather(drive(stack, truth, 1000, concurrency=8), restart())
    assert int(pid_file.read_text()) != old, "the supervisor restarted the broker"
    await settle_and_check(stack, truth, "broker SIGKILL (log lost), restarted", "1 × broker restart", timeout=180)


async def test_postgresql_restart_under_load(stack, truth):
    pg = EmbeddedPostgres(Path(stack.dev["embedded"]["pg_data"]), stack.dev["embedded"]["pg_port"])

    async def restart() -> None:
        await asyncio.sleep(1)
        await asyncio.to_thread(pg.stop)
        await asyncio.sleep(1)
        await asyncio.to_thread(pg.start)

    await asyncio.gather(drive(stack, truth, 1000, concurrency=8), restart())
    for service in ("registration", "matchmaking", "notifications", "reporting"):
        wait_healthy(stack, service, timeout=120)
    await settle_and_check(stack, truth, "PostgreSQL stopped and restarted", "1 × pg_ctl stop/start", timeout=180)


async def test_second_replicas_join_the_groups_and_one_is_killed_mid_stream(stack, truth):
    """Matchmaking, notifications and reporting each get a second replica in the same consumer groups;
    the groups rebalance, then each replica is killed with SIGKILL mid-stream and its partitions move back."""
    replicas = []
    for service in ("matchmaking", "notifications", "reporting"):
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CXC_")}
        env.update(dev_environment(stack.home, environ={}))  # the stack's dev secrets, as `cxc run` gives its own children
        env.update(CXC_REGISTRATION_URL=stack.dev["internal_urls"]["registration"])
        env.update(CXC_DATABASE_URL=stack.dev["database_url"], CXC_KAFKA_BOOTSTRAP=stack.dev["kafka_bootstrap"],
                   CXC_CONSUMER_SESSION_TIMEOUT_MS="6000", **{f"CXC_{service.upper()}_PORT": str(port)})
        log = open(stack.home / f"{service}-replica.log", "ab")
        replicas.append((service, port, subprocess.Popen([sys.executable, "-m", f"services.{service}"], env=env,
                                                         stdout=log, stderr=subprocess.STDOUT)))
    try:
        for service, port, _ in replicas:
            wait_ready_url(f"http://127.0.0.1:{port}/readyz")

        async def kill_replicas() -> None:
            await asyncio.sleep(3)
            for _, _, proc in replicas:
                proc.kill()

        await asyncio.gather(drive(stack, truth, 1000, concurrency=8), kill_replicas())
    finally:
        for _, _, proc in replicas:
            if proc.poll() is None:
                proc.kill()
    await settle_and_check(stack, truth, "second replicas of 3 services, killed mid-stream", "3 × SIGKILL of a replica")


def wait_ready_url(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready")


async def test_slow_consumer_falls_behind_and_catches_up(stack, truth):
    pid = service_pid(stack, "reporting")

    async def stall() -> None:
        await asyncio.sleep(0.5)
        os.kill(pid, signal.SIGSTOP)
        await asyncio.sleep(4)  # shorter than the session timeout: it keeps its partitions and lags
        os.kill(pid, signal.SIGCONT)

    await asyncio.gather(drive(stack, truth, 1000, concurrency=8), stall())
    await settle_and_check(stack, truth, "reporting stalled 4 s (lag), resumed", "1 × SIGSTOP 4 s")


def write_summary() -> None:
    if not RESULTS:
        return
    lines = [
        "# Reliability",
        "",
        "Written by the chaos suite (`make test-chaos`, tests/chaos/) from its last run "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). The whole system runs as real processes",
        "(`cxc run`: embedded PostgreSQL, embedded Tansu broker, four services under the supervisor). The load",
        "retries like a partner does (same external ref and Idempotency-Key). Each row checks, cumulatively:",
        "every acknowledged registration once in registration's database, exactly one event id for it on the",
        "topic, counted once by reporting, KPI total equal to the truth, no outbox row stuck, no dead letters.",
        "",
        "| scenario | requests sent (incl. retries) | acknowledged (cumulative) | faults injected | retried | lost | duplicated |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in RESULTS:
        lines.append(f"| {r['scenario']} | {r['requests']} | {r['acknowledged']} | {r['faults']} | {r['retried']} | "
                     f"{r['lost']} | {r['duplicated']} |")
    lines += [
        "",
        "What the embedded broker's memory-only log means: after a broker restart every topic is empty;",
        "`cxc run` re-publishes every event retained in the services' outboxes, and consumers deduplicate by",
        "event id, so nothing acknowledged is lost or counted twice. Against a real Kafka cluster the log",
        "survives restarts and the same dedupe covers redeliveries.",
        "",
    ]
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "reliability.md").write_text("\n".join(lines))
