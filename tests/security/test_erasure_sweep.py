"""GDPR erasure reaches every copy: the four services on real PostgreSQL and a real broker, one person
with a unique name and e-mail, activity that copies their data everywhere it goes (profile, activity,
meeting request with a message naming them, mails, an exchange whose goals and cancellation reason name
them, idempotent responses, a dead letter carrying their event), then erasure, then a replay of their
events. Afterwards every text/json/bytea column of every table of every schema (outboxes included) and
every record of every topic (dead-letter topics included: keys, values, headers) is searched for them.

Every personal value carries one random tag, so searching for the tag (case-insensitively, in JSON text
too) finds any of them, however it was copied."""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx
import pytest

from services.matchmaking.bootstrap import build as build_matchmaking
from services.matchmaking.settings import MatchmakingSettings
from services.notifications.adapters.mailcatcher import MailCatcher
from services.notifications.bootstrap import build as build_notifications
from services.notifications.settings import NotificationsSettings
from services.registration import seed
from services.registration.bootstrap import build as build_registration
from services.registration.settings import RegistrationSettings
from services.reporting.bootstrap import build as build_reporting
from services.reporting.settings import ReportingSettings
from shared import auth as api_keys
from shared.events import decode, encode
from shared.messaging.kafka import new_producer
from shared.messaging.namespace import NO_NAMESPACE, Namespace
from shared.messaging.reader import TopicReader
from tests.support.polling import eventually
from tests.support.services import serving_http as serving

pytestmark = pytest.mark.integration

SKIP_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
SEARCHED_TYPES = ("text", "character varying", "character", "json", "jsonb", "bytea", "ARRAY", "USER-DEFINED")


@asynccontextmanager
async def running(service):
    await service.start()
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app()), base_url="http://svc")
    try:
        yield api
    finally:
        await api.aclose()
        await asyncio.wait_for(service.stop(), 20)


async def sweep_database(database_url: str, tag: str) -> tuple[list[str], set[str]]:
    """Every (schema.table.column) holding the tag, and the tables searched."""
    conn = await asyncpg.connect(database_url)
    try:
        columns = await conn.fetch(
            """SELECT c.table_schema, c.table_name, c.column_name, c.data_type
               FROM information_schema.columns c JOIN information_schema.tables t
                 ON t.table_schema = c.table_schema AND t.table_name = c.table_name
               WHERE t.table_type = 'BASE TABLE' AND c.table_schema <> ALL($1::text[])
                 AND c.table_schema NOT LIKE 'pg_temp%' AND c.data_type = ANY($2::text[])""",
            list(SKIP_SCHEMAS), list(SEARCHED_TYPES),
        )
        hits, tables = [], set()
        for c in columns:
            ident = f'"{c["table_schema"]}"."{c["table_name"]}"'
            column = f'"{c["column_name"]}"'
            text = f"encode({column}, 'escape')" if c["data_type"] == "bytea" else f"{column}::text"
            tables.add(f"{c['table_schema']}.{c['table_name']}")
            n = await conn.fetchval(f"SELECT count(*) FROM {ident} WHERE {text} ILIKE '%' || $1 || '%'", tag)
            if n:
                hits.append(f"{c['table_schema']}.{c['table_name']}.{c['column_name']} ({n} rows)")
        return hits, tables
    finally:
        await conn.close()


async def read_every_topic(bootstrap: str, namespace: Namespace = NO_NAMESPACE) -> dict[str, list]:
    """Every record of every topic of the deployment (all of the broker's, or all of the test's namespace on a
    broker the session shares), by plain topic name, from the first offset to the true end (the kernel's
    group-less reader: bounded calls, highwater ends)."""
    async with TopicReader(bootstrap, namespace=namespace, timeout_s=15, client_id="erasure-sweep") as reader:
        topics = sorted(t for t in await reader.topics() if not t.startswith("__"))
        tps = await reader.partitions(topics)
        ends = await reader.end_offsets(tps)
        starts = await reader.start_offsets(tps, beginning=True, ends=ends)
        records: dict[str, list] = {t: [] for t in topics}
        async for message in reader.read(starts, ends):
            records[message.topic].append(message)
        return records


def holds(record, needle: bytes) -> bool:
    parts = [record.key or b"", record.value or b""] + [v or b"" for v in record.headers.values()]
    return any(needle in p.lower() for p in parts)


async def publish_raw(bootstrap: str, items: list[tuple[str, bytes, bytes, list]]) -> None:
    producer = new_producer(bootstrap, f"erasure-sweep-{uuid.uuid4().hex[:6]}", 10)
    await asyncio.wait_for(producer.start(), 30)
    try:
        for topic, key, value, headers in items:
            await asyncio.wait_for(producer.send_and_wait(topic, value, key=key, headers=headers), 15)
    finally:
        await asyncio.wait_for(producer.stop(), 15)


async def test_erasure_leaves_no_trace_in_any_table_outbox_or_topic_and_replays_resurrect_nothing(
    database_url, kafka_bootstrap, topic_namespace
):
    tag = uuid.uuid4().hex[:12]
    email = f"ottilie.q{tag}@quill.example"
    contact_name = f"Ottilie Quill{tag}"
    org = f"Quill{tag} Consulting"
    settings = dict(database_url=database_url, kafka_bootstrap=kafka_bootstrap, consumer_session_timeout_ms=6000,
                    relay_poll_interval_s=0.05, consumer_max_retries=1)
    catcher = MailCatcher().start()
    registration = build_registration(RegistrationSettings(**settings))
    try:
        async with serving(registration.app()) as reg_url, serving(registration.internal_app()) as internal_url:
            async with registration.pool.acquire() as conn:
                await seed.seed_clusters(conn)
                keys = {who: (await api_keys.issue_key(conn, cluster, role, None, source="/test"))[1]
                        for who, cluster, role in [("mazovia", "mazovia-ict", "partner"), ("gaia", "gaia", "partner"),
                                                   ("coordinator", "silicon-saxony", "coordinator")]}
            h = {who: {"Authorization": f"Bearer {k}"} for who, k in keys.items()}
            reg = httpx.AsyncClient(base_url=reg_url, timeout=30)
            services = [
                build_matchmaking(MatchmakingSettings(**settings, registration_url=internal_url)),
                build_notifications(NotificationsSettings(
                    **settings, registration_url=internal_url, smtp_port=catcher.port, smtp_tls="none",
                    poll_interval_s=0.05, retry_base_s=0.2, lease_s=12.0, smtp_timeout_s=1.5, contact_timeout_s=1.5, webhook_timeout_s=4.0)),
                build_reporting(ReportingSettings(**settings)),
            ]
            async with running(services[0]) as mm, running(services[1]) as nt, running(services[2]):
                for api in (mm, nt):  # API keys replicated
                    await eventually(lambda api=api: _ok(api.get("/v1/notifications" if api is nt else
                                                                 f"/v1/profiles/{uuid.uuid4()}", headers=h["coordinator"]),
                                                         (200, 404)), timeout=40)
                await _exercise_and_erase(reg, mm, h, registration, services, kafka_bootstrap, topic_namespace, catcher,
                                          tag=tag, email=email, contact_name=contact_name, org=org)
                await reg.aclose()
    finally:
        catcher.stop()


async def _ok(response_coro, statuses) -> bool:
    return (await response_coro).status_code in statuses


async def _exercise_and_erase(reg, mm, h, registration, services, bootstrap, namespace, catcher, *, tag, email, contact_name, org):
    def person(name, mail, organisation, ref, extra=""):
        return {
            "kind": "sme", "name": organisation, "country": "PL", "city": f"Town{extra}", "sectors": ["J62.01"],
            "website": f"https://{organisation.split()[0].lower()}.example", "external_ref": ref,
            "keywords": [f"{organisation.split()[0]}", "photonics"],
            "offers": [{"type": "service", "text": f"Consulting by {organisation}"}], "requests": [],
            "contact": {"name": name, "email": mail, "language": "en"},
            "consent": {"data_processing": True, "marketing": True},
        }

    # Registration with an Idempotency-Key: its stored response holds every personal field.
    reg_key = str(uuid.uuid4())
    r = await reg.post("/v1/participants", json=person(contact_name, email, org, f"crm-{tag}", tag),
                       headers={**h["mazovia"], "Idempotency-Key": reg_key})
    assert r.status_code == 201, r.text
    p = r.json()["id"]
    other_email = f"other-{uuid.uuid4().hex[:8]}@gaia.example"
    r = await reg.post("/v1/participants", json=person("Iker Other", other_email, "Other Labs", "crm-other"),
                       headers=h["gaia"])
    assert r.status_code == 201, r.text
    q = r.json()["id"]
    r = await reg.patch(f"/v1/participants/{p}", json={"offers": [{"type": "technology", "text": f"{org} lidar"}]},
                        headers=h["mazovia"])
    assert r.status_code == 200, r.text

    start = date.today() + timedelta(days=30)
    r = await reg.post("/v1/activities", headers=h["coordinator"], json={
        "kind": "matchmaking_event", "title": "Vilnius Tech Days", "host_cluster_id": "business-hive-vilnius",
        "country": "LT", "starts_on": start.isoformat(), "ends_on": start.isoformat(),
        "meetings": {"day_start": "09:00", "day_end": "12:00", "slot_minutes": 30, "tables": 5,
                     "timezone": "Europe/Vilnius"}})
    assert r.status_code == 201, r.text
    activity = r.json()["id"]
    for who, pid in (("mazovia", p), ("gaia", q)):
        r = await reg.post(f"/v1/activities/{activity}/participants", json={"participant_id": pid}, headers=h[who])
        assert r.status_code == 201, r.text

    # An exchange (Idempotency-Key) whose goals name the person, cancelled with a reason naming them.
    x_key = str(uuid.uuid4())
    r = await reg.post("/v1/exchanges", headers={**h["mazovia"], "Idempotency-Key": x_key}, json={
        "participant_id": p, "host_cluster_id": "gaia", "kind": "sme_exchange", "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=4)).isoformat(), "goals": f"{contact_name} meets Basque photonics"})
    assert r.status_code == 201, r.text
    r = await reg.post(f"/v1/exchanges/{r.json()['id']}/cancel", json={"reason": f"{contact_name} is ill"},
                       headers=h["mazovia"])
    assert r.status_code == 200, r.text

    # Matchmaking: both profiles and places indexed, then requests both ways with a message naming them.
    async def indexed():
        async with services[0].pool.acquire() as conn:
            return await conn.fetchval(
                """SELECT count(*) = 2 FROM activity_participants ap JOIN profiles pr
                     ON pr.participant_id::text = ap.participant_id WHERE ap.activity_id = $1""", activity)
    await eventually(indexed, timeout=40)
    r = await mm.post("/v1/meeting-requests", headers=h["mazovia"], json={
        "activity_id": activity, "requester_id": p, "target_id": q,
        "message": f"Hi, {contact_name} here ({email}), {org}"})
    assert r.status_code == 201, r.text
    # Mails to the person (registration confirmed) and to the other one naming the person's organisation.
    await eventually(lambda: asyncio.sleep(0, catcher.to(email) and catcher.to(other_email)), timeout=40)

    # A dead letter carrying the person's event: their participant.registered under a wrong Kafka key.
    async with registration.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT event_type, envelope::text AS envelope FROM outbox WHERE key = $1 ORDER BY position", p)
        join_rows = await conn.fetch(
            """SELECT envelope::text AS envelope FROM outbox
               WHERE event_type = 'activity.participant_joined' AND envelope->'data'->>'participant_id' = $1""", p)
    history = [decode(r["envelope"].encode()) for r in rows] + [decode(r["envelope"].encode()) for r in join_rows]
    registered = next(e for e in history if e.type == "participant.registered")
    _, value, headers = encode(registered)
    await publish_raw(bootstrap, [(namespace.topic("cxc.participants"), b"not-the-subject", value, headers)])

    async def dead_lettered():
        topics = await read_every_topic(bootstrap, namespace)
        return [rec for rec in topics.get("cxc.participants.dlq", []) if p.encode() in (rec.value or b"")]
    await eventually(dead_lettered, timeout=40, interval=1)

    # Erasure, and its propagation to every service.
    r = await reg.delete(f"/v1/participants/{p}", headers=h["mazovia"])
    assert r.status_code == 202, r.text

    async def propagated():
        conn = await asyncpg.connect(registration.settings.database_url)
        try:
            mm_done = not await conn.fetchval("SELECT count(*) FROM matchmaking.profiles WHERE participant_id = $1", p)
            nt_done = await conn.fetchval("SELECT count(*) FROM notifications.erased_participants WHERE participant_id = $1", p)
            rp_done = await conn.fetchval(
                "SELECT count(*) FROM reporting.facts WHERE aggregate = 'participant' AND id = $1 AND data ? 'erased_at'", p)
            return mm_done and nt_done and rp_done
        finally:
            await conn.close()
    await eventually(propagated, timeout=40)

    # Late or replayed events of the erased person (as an ops replay or a retrying producer would send them,
    # with fresh ids): none may bring anything back.
    replays = []
    for e in history:
        again = e.model_copy(update={"id": str(uuid.uuid4())})
        replays.append(again)
    await publish_raw(bootstrap, [(namespace.topic(e.topic.name), *encode(e)) for e in replays])
    replay_ids = [e.id for e in replays]
    consumers = {"matchmaking": ("matchmaking-profiles", "matchmaking-activities"),
                 "notifications": ("notifications-inbox",), "reporting": ("reporting-kpis",)}

    async def replays_consumed():
        conn = await asyncpg.connect(registration.settings.database_url)
        try:
            for schema, names in consumers.items():
                seen = await conn.fetchval(
                    f"SELECT count(DISTINCT event_id) FROM {schema}.processed_events WHERE event_id = ANY($1::uuid[])",
                    replay_ids)
                expected = sum(1 for e in replays if _consumes(names, e.type))
                if seen < expected:
                    return False
            return True
        finally:
            await conn.close()
    await eventually(replays_consumed, timeout=40)

    r = await mm.get(f"/v1/profiles/{p}", headers=h["coordinator"])
    assert r.status_code == 404, r.text

    # Stored idempotent responses: a retry gets 410 Gone as problem+json, with nothing of the person.
    for path, key, body in (("/v1/participants", reg_key, person(contact_name, email, org, f"crm-{tag}", tag)),):
        r = await reg.post(path, json=body, headers={**h["mazovia"], "Idempotency-Key": key})
        assert r.status_code == 410, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert tag not in r.text.lower() and p not in r.text
    async with registration.pool.acquire() as conn:
        stored = await conn.fetchrow("SELECT status, body FROM idempotency_keys WHERE idem_key = $1", x_key)
    assert stored["status"] == 410 and stored["body"] is None

    # The sweep: every table of every schema, then every topic.
    hits, tables = await sweep_database(registration.settings.database_url, tag)
    assert {"registration.outbox", "matchmaking.outbox", "notifications.outbox",
            "matchmaking.meetings", "notifications.deliveries", "reporting.facts"} <= tables
    assert hits == [], f"the erased person is still in: {hits}"

    topics = await read_every_topic(bootstrap, namespace)
    assert any(p.encode() in (rec.value or b"") for rec in topics.get("cxc.participants.dlq", []))
    leaks = sorted({f"{t}@{rec.partition}:{rec.offset}" for t, recs in topics.items() for rec in recs
                    if holds(rec, tag.encode())})
    assert leaks == [], f"the erased person is still readable in topic records: {leaks[:20]}"

    # Every consuming service keeps the tombstone that made the replays harmless.
    async with registration.pool.acquire() as conn:
        for schema in ("matchmaking", "notifications"):
            assert await conn.fetchval(
                f"SELECT count(*) FROM {schema}.erased_participants WHERE participant_id = $1", p) == 1


def _consumes(consumer_names: tuple[str, ...], event_type: str) -> bool:
    family = event_type.split(".")[0]
    if "reporting-kpis" in consumer_names:
        return event_type != "activity.participant_joined"
    if "notifications-inbox" in consumer_names:
        return True
    return family == "participant" or event_type == "activity.participant_joined"
