"""The one shape every service runs in: settings → pool + migrations → workers → FastAPI → uvicorn.

Connections are created in the lifespan and closed on shutdown. Background workers (the outbox relay,
consumers) run as tasks; if one dies with an error the whole process exits non-zero, so the supervisor
(``cxc run`` or the container runtime) restarts it rather than leaving a half-working service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import asyncpg
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import Headers, MutableHeaders
from typing_extensions import NotRequired, TypedDict

from shared import correlation, logs, metrics, problems
from shared.auth import key_replica_handlers, public, public_reason, takes_optional_key
from shared.gate import Gate, flat_routes
from shared.openapi import complete as complete_openapi
from shared.openapi import ok
from shared.db import create_pool, migrate
from shared.housekeeping import Pruning, run_housekeeping
from shared.keysigning import KeySigner, KeyVerifier, configure_signer
from shared.messaging.consumer import BatchHandler, ConsumerRunner, Handler
from shared.messaging.kafka import BrokerMonitor
from shared.messaging.outbox import OutboxRelay
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


class _Observe:
    """The correlation id of each request (bound while it runs, echoed as X-Request-ID) and its metrics."""

    def __init__(self, app, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = correlation.from_headers(Headers(scope=scope))
        started = time.perf_counter()
        status = 500

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            with correlation.bound(request_id):
                await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            # The route template, never the raw path: ids in paths would explode the label set.
            path = getattr(route, "path", "unmatched")
            metrics.HTTP_LATENCY.labels(self.service, scope["method"], path).observe(time.perf_counter() - started)
            metrics.HTTP_REQUESTS.labels(self.service, scope["method"], path, str(status)).inc()


class Health(TypedDict):
    """The process is alive."""

    status: Literal["ok"]
    service: str
    pid: int


class OutboxBacklog(TypedDict):
    pending: int
    oldest_pending_age_s: float


class Readiness(TypedDict):
    """Each check as "ok" or, in words, what is wrong or awaited (see ``Service.readiness``)."""

    ready: bool
    status: Literal["ok", "degraded", "not ready"]
    checks: dict[str, str]
    outbox: NotRequired[OutboxBacklog]
    failing: NotRequired[list[str]]
    degraded: NotRequired[list[str]]


@dataclass
class ConsumerSpec:
    """A consumer group of this service: its name, topics and a handler per event type."""

    name: str
    topics: list[str]
    handlers: dict[str, Handler]
    batch: bool = False  # one transaction per polled batch (projections); see ConsumerRunner
    batch_handler: BatchHandler | None = None


@dataclass
class Service:
    settings: ServiceSettings
    migrations: str
    routers: Sequence[APIRouter] = ()
    # Served only on the internal listener (settings.internal_host/internal_port), never on the public port.
    internal_routers: Sequence[APIRouter] = ()
    consumers: Sequence[ConsumerSpec] = ()
    publishes: bool = False
    issues_keys: bool = False  # registration issues API keys; every other service replicates them
    title: str = ""
    on_startup: Callable[[Service], Awaitable[None]] | None = None
    # Other long-running loops of the service (expiry sweeps, reminder and webhook senders): each is called
    # with the started service and runs until cancelled; if one fails, the process exits non-zero.
    workers: Sequence[tuple[str, Callable[[Service], Awaitable[None]]]] = ()
    # Expired rows of the service's own tables, pruned by its housekeeping job with the runtime tables'
    # (shared/housekeeping.py).
    housekeeping: Sequence[Pruning] = ()
    pool: asyncpg.Pool | None = field(default=None, init=False)
    fatal: BaseException | None = field(default=None, init=False)
    runners: list[ConsumerRunner] = field(default_factory=list, init=False)
    broker: BrokerMonitor | None = field(default=None, init=False)
    _tasks: list[asyncio.Task] = field(default_factory=list, init=False)
    _server: uvicorn.Server | None = field(default=None, init=False)

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        self.pool = await create_pool(s.database_url, s.db_schema, min_size=s.db_pool_min, max_size=s.db_pool_max)
        await migrate(self.pool, s.db_schema, self.migrations)
        self.broker = BrokerMonitor(s.kafka_bootstrap, timeout_s=min(s.broker_timeout_s, 5.0),
                                    interval_s=s.broker_probe_interval_s)
        self.broker.start()
        self._spawn("broker-monitor", self.broker.run())
        if self.on_startup:
            await self.on_startup(self)
        if self.publishes:
            relay = OutboxRelay(
                self.pool, service=s.service, bootstrap=s.kafka_bootstrap,
                timeout_s=s.broker_timeout_s, poll_interval_s=s.relay_poll_interval_s, namespace=s.namespace,
            )
            self._spawn("outbox-relay", relay.run())
        consumers = list(self.consumers)
        if self.issues_keys:
            configure_signer(KeySigner.from_text(s.key_signing_private_key.get_secret_value()))
        else:
            verifier = KeyVerifier.from_text(s.key_signing_public_key.get_secret_value())
            consumers.append(ConsumerSpec(f"{s.service}-keys", ["cxc.keys"], key_replica_handlers(verifier, s.service)))
        for spec in consumers:
            runner = ConsumerRunner(
                spec.name, self.pool, spec.handlers, topics=spec.topics, bootstrap=s.kafka_bootstrap,
                timeout_s=s.broker_timeout_s, max_retries=s.consumer_max_retries,
                session_timeout_ms=s.consumer_session_timeout_ms, batch=spec.batch,
                batch_handler=spec.batch_handler, statement_timeout_s=s.consumer_statement_timeout_s,
                namespace=s.namespace,
            )
            self.runners.append(runner)
            self._spawn(spec.name, runner.run())
        for name, worker in self.workers:
            self._spawn(name, worker(self))
        self._spawn("housekeeping", run_housekeeping(self))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self.runners.clear()
        if self.broker is not None:
            await self.broker.close()
            self.broker = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    def _spawn(self, name: str, coro) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._worker_done)
        self._tasks.append(task)

    def _worker_done(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        log.critical("worker %s stopped: %r; shutting the service down", task.get_name(), exc)
        self.fatal = exc or RuntimeError(f"worker {task.get_name()} returned")
        if self._server is not None:
            self._server.should_exit = True

    # --- HTTP --------------------------------------------------------------------------------------

    def app(self) -> FastAPI:
        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI):
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(title=self.title or f"ClusterXchange {self.settings.service}", lifespan=lifespan)
        app.state.service = self
        problems.install(app)
        # Added before the observability middleware, so it runs inside it: refusals are measured and carry
        # the request id too.
        app.add_middleware(Gate, service=self)
        self._install_observability(app)
        app.include_router(self._ops_router())
        for router in self.routers:
            app.include_router(router)
        self._declare_security(app)
        return app

    def _declare_security(self, app: FastAPI) -> None:
        """OpenAPI: a bearer key is required everywhere, except on the operations marked public; every
        operation lists the problem+json errors it can answer (shared/openapi.py)."""
        build = app.openapi

        def openapi() -> dict:
            if app.openapi_schema is not None:
                return app.openapi_schema
            doc = build()
            doc.setdefault("components", {}).setdefault("securitySchemes", {})["apiKey"] = {
                "type": "http", "scheme": "bearer",
                "description": "An API key of a cluster: `Authorization: Bearer cxc_...`",
            }
            doc["security"] = [{"apiKey": []}]
            for route in flat_routes(app):
                if public_reason(route, self.settings) is None or route.path not in doc.get("paths", {}):
                    continue
                for method in getattr(route, "methods", ()):
                    operation = doc["paths"][route.path].get(method.lower())
                    if operation is not None:
                        # a key is optional where it changes the answer (the public scoreboard), else unused
                        operation["security"] = [{}, {"apiKey": []}] if takes_optional_key(route) else []
            complete_openapi(doc, app, self.settings)
            app.openapi_schema = doc
            return doc

        app.openapi = openapi

    def _install_observability(self, app: FastAPI) -> None:
        """Every request gets a correlation id (the caller's ``X-Request-ID`` or a new one), echoed in the
        response and bound while the request runs, so events it records and its log lines carry it."""
        service = self.settings.service

        # A plain ASGI middleware, not @app.middleware("http") (Starlette's BaseHTTPMiddleware): that one runs
        # the app in a task of its own and streams every response through a queue: overhead on every request
        # (issue 15 profile of the ingress).
        app.add_middleware(_Observe, service=service)

    def _ops_router(self) -> APIRouter:
        router = APIRouter(tags=["ops"])

        @router.get("/healthz", responses=ok(Health))
        @public("liveness probe")
        async def healthz():
            return {"status": "ok", "service": self.settings.service, "pid": os.getpid()}

        @router.get("/readyz", responses=ok(Readiness, 200, 503, description=(
            "Ready (200), or not (503): which check fails or is awaited, in words")))
        @public("readiness probe")
        async def readyz():
            body = await self.readiness()
            return JSONResponse(body, status_code=200 if body["ready"] else 503)

        @router.get("/metrics", response_class=PlainTextResponse, responses={200: {
            "description": "Prometheus text exposition format",
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}})
        @public("Prometheus scrape: aggregate counters, no personal data")
        async def metrics():
            return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

        return router

    async def readiness(self) -> dict:
        """What /readyz answers: each check as "ok" or, in words, what is wrong or awaited.

        The database and the workers must be up. The broker is a hard dependency only of a service with
        consumers, which cannot do their work without it. One without (registration) stays ready while the
        broker is away: its writes wait in the outbox, which the relay drains once the broker is back, so it
        says "degraded" and shows that backlog (also in the cxc_outbox_pending/_oldest_pending_age metrics).
        Nothing here calls the broker: the broker monitor's last verdict is read."""
        checks: dict[str, str] = {"database": "ok" if await self._db_ok() else "not answering"}
        broker = self.broker.describe() if self.broker is not None else "not started"
        checks["broker"] = broker
        stopped = [t.get_name() for t in self._tasks if t.done()]
        checks["workers"] = "ok" if self.fatal is None and not stopped else f"stopped: {', '.join(stopped) or 'failed'}"
        for runner in self.runners:
            if broker != "ok":
                checks[f"consumer {runner.name}"] = f"broker {broker}"
            else:
                checks[f"consumer {runner.name}"] = "ok" if runner.assigned else runner.state
        body: dict = {}
        degraded = []
        if broker != "ok" and not self.runners:
            degraded.append("broker")
        if self.publishes and checks["database"] == "ok" and (backlog := await self._outbox_backlog()) is not None:
            body["outbox"] = backlog
            if "broker" in degraded:
                checks["broker"] = (f"{broker}; degraded: writes wait in the outbox ({backlog['pending']} pending, "
                                    f"oldest {backlog['oldest_pending_age_s']:.0f}s)")
        failing = [name for name, verdict in checks.items() if verdict != "ok" and name not in degraded]
        ready = not failing
        body = {"ready": ready, "status": "not ready" if failing else "degraded" if degraded else "ok",
                "checks": checks, **body}
        if failing:
            body["failing"] = failing
        if degraded:
            body["degraded"] = degraded
        return body

    async def _outbox_backlog(self) -> dict | None:
        try:
            async with self.pool.acquire(timeout=2) as conn:
                row = await conn.fetchrow(
                    """SELECT count(*) AS pending, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age
                       FROM outbox WHERE published_at IS NULL""", timeout=2,
                )
        except Exception:
            return None
        return {"pending": row["pending"], "oldest_pending_age_s": round(float(row["age"]), 1)}

    async def _db_ok(self) -> bool:
        if self.pool is None:
            return False
        try:
            async with self.pool.acquire(timeout=2) as conn:
                await asyncio.wait_for(conn.fetchval("SELECT 1"), 2)
            return True
        except Exception:
            return False

    # --- process -----------------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM; return 1 if a worker failed, so the supervisor restarts us."""
        logs.configure(self.settings.service, self.settings.log_level)
        config = uvicorn.Config(
            self.app(), host=self.settings.host, port=self.settings.port, log_level=self.settings.log_level.lower(),
            access_log=False, lifespan="on", log_config=None,
            # Bounds a client cannot stretch: idle keep-alive, the size of a request head, open connections.
            timeout_keep_alive=self.settings.keepalive_timeout_s,
            h11_max_incomplete_event_size=self.settings.max_header_bytes,
            limit_concurrency=self.settings.max_connections, server_header=False,
            # uvloop (uvicorn[standard]) for the event loop. The HTTP parser stays h11 although httptools is
            # installed with it: httptools has no bound on a request head, and max_header_bytes is a limit.
            loop="auto", http="h11",
        )
        self._server = uvicorn.Server(config)
        self._server.run(sockets=self._listeners(config))
        if self.fatal is not None or not self._server.started:
            return 1
        return 0


    def internal_app(self) -> FastAPI:
        """The app of the internal listener: only ``internal_routers``, no lifespan (the public app's starts
        the service), no API-key gate (its routes check the service token themselves)."""
        app = FastAPI(title=f"ClusterXchange {self.settings.service} (internal)", openapi_url=None, docs_url=None,
                      redoc_url=None)
        app.state.service = self
        problems.install(app)
        for router in self.internal_routers:
            app.include_router(router)
        return app

    def _listeners(self, config: uvicorn.Config) -> list:
        """The public socket, plus the internal one when this service has internal routes. One server serves
        both; ``_ByListener`` routes each connection by the port it came in on, so the public port has no
        internal route at all (a load balancer or port mapping that exposes it exposes nothing internal)."""
        s = self.settings
        sockets = [config.bind_socket()]
        if self.internal_routers:
            if s.internal_port is None or s.internal_port == s.port:
                raise SystemExit(f"{s.service}: set an internal port other than the public one")
            sockets.append(uvicorn.Config(None, host=s.internal_host, port=s.internal_port).bind_socket())
            config.app = _ByListener(config.app, self.internal_app(), s.internal_port)
        return sockets


class _ByListener:
    """ASGI: connections to ``internal_port`` go to the internal app, everything else (and the lifespan)
    to the public one. ``scope["server"]`` is the local address of the accepting socket, not a header."""

    def __init__(self, public, internal, internal_port: int) -> None:
        self.public, self.internal, self.internal_port = public, internal, internal_port

    async def __call__(self, scope, receive, send):
        server = scope.get("server") or (None, None)
        if scope["type"] in ("http", "websocket") and server[1] == self.internal_port:
            return await self.internal(scope, receive, send)
        return await self.public(scope, receive, send)


def pool_of(request: Request) -> asyncpg.Pool:
    pool = request.app.state.service.pool
    assert pool is not None, "pool is created in the lifespan"
    return pool


def main(build: Callable[[], Service]) -> None:
    """Run a service; a configuration it refuses (e.g. missing secrets) is one readable message, exit 2."""
    from pydantic import ValidationError

    from shared.settings import config_errors

    try:
        service = build()
    except ValidationError as exc:
        print("configuration error:\n  " + "\n  ".join(config_errors(exc)), file=sys.stderr)
        sys.exit(2)
    sys.exit(service.run())
