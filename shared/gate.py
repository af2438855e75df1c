"""The front door of every service: an ASGI middleware that runs before routing hands a request to a route.

In this order, each refusal an RFC 9457 problem:

1. requests in flight are capped (503), except the health and metrics probes, so an overload is shed
   cheaply instead of queueing on the database pool;
2. the caller is authenticated unless the matched route is marked ``@public`` (shared/auth.py) or is the
   OpenAPI document or its docs pages; a route nobody marked needs a key, and so does a path that matches
   no route (no probing without a key). A client address that collects more than
   ``unauthenticated_limit`` 401s in a window gets 429 instead, and its key-less requests are refused
   without touching the database for the rest of the window;
3. the caller's key spends one unit of its request budget (429); batch endpoints spend one more unit per
   further item through ``spend`` (shared by replicas: shared/limits.py);
4. the body is read up to ``max_body_bytes`` (413 from Content-Length at once, or while reading a chunked
   body, so an oversized upload is never buffered whole) and refused when it or the query holds NUL
   characters (422: PostgreSQL text cannot hold them).

Authentication comes before reading the body, so a client without a key cannot make a service buffer
anything. Keys found valid are remembered for a few seconds per process (``auth.KeyCache``), so most
requests authenticate without a round trip.

A route marked ``@on_gate_connection`` runs on the connection the gate charged the budget on: the gate
reads the body first (a slow upload must not hold a pool connection), then takes one connection, spends
the budget on it in a statement of its own (committed at once: the budget row's lock is never held across
the route's transaction), and hands it to the route (``gate_connection``), which opens its transaction on
it. One pool acquisition per request instead of one per step. The route must not take another connection
from the pool while it holds this one (two per request could exhaust the pool).
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from fastapi import Request
from fastapi.routing import iter_route_contexts
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import auth
from shared.limits import Budgets, nul_in_json, nul_refused, too_large, too_many
from shared.problems import Problem, problem_response

PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_MAX_BLOCKED = 10_000


_CONN_KEY = "cxc.gate_connection"


def on_gate_connection(endpoint):
    """Mark a route that opens its unit of work on ``gate_connection(request)`` and takes no other
    connection from the pool."""
    endpoint.__cxc_gate_connection__ = True
    return endpoint


def gate_connection(request: Request):
    """The connection the gate holds for this request (routes marked ``@on_gate_connection``), else None."""
    return request.scope.get(_CONN_KEY)


def _shares_connection(route) -> bool:
    return bool(getattr(getattr(route, "endpoint", None), "__cxc_gate_connection__", False))


def _docs_paths(app) -> set[str]:
    paths = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    return {p for p in paths if p}


def flat_routes(app) -> list:
    """Every route of ``app`` with its effective path, methods and endpoint, routers included."""
    return list(iter_route_contexts(app.routes))


def matched_route(routes: list, scope: Scope):
    """The route routing will pick (a method mismatch still names the route, which answers 405)."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    try:
        jar = SimpleCookie(raw)
    except CookieError:
        return None
    return jar[name].value if name in jar else None


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class Gate:
    def __init__(self, app: ASGIApp, service) -> None:
        self.app = app
        self.service = service
        self.in_flight = 0
        self._routes: list | None = None
        self._blocked: dict[str, int] = {}  # client address -> window number it is blocked in
        self.keys = auth.KeyCache(service.settings.auth_cache_ttl_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        path = scope["path"]
        if self._routes is None:
            self._routes = flat_routes(app)  # routes are fixed once the app serves
        route = matched_route(self._routes, scope)
        reason = auth.public_reason(route, self.service.settings) if route is not None else None
        if reason is None and path in _docs_paths(app):
            reason = "API description"
        if reason is not None and path in PROBES:
            await self.app(scope, receive, send)
            return
        s = self.service.settings
        if self.in_flight >= s.max_concurrent_requests:
            await problem_response(503, "The service is at its limit of concurrent requests; retry shortly",
                                   kind="overloaded", instance=path, headers={"Retry-After": "1"})(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self._admit(scope, receive, send, public=reason is not None,
                              keyed=reason is None or auth.takes_optional_key(route),
                              shares=reason is None and _shares_connection(route))
        finally:
            self.in_flight -= 1

    async def _admit(self, scope: Scope, receive: Receive, send: Send, *, public: bool, keyed: bool,
                     shares: bool) -> None:
        s = self.service.settings
        path, address = scope["path"], _client(scope)
        budgets = Budgets(self.service.pool, s.rate_limit_window_s)
        # A public route that checks its own credential (a signed link, a service token) gets the header
        # as it came; its 401s still count against the address.
        authorization = _header(scope, b"authorization") if keyed else None
        session = _cookie(scope, auth.SESSION_COOKIE) if keyed and scope["method"] in _SAFE_METHODS else None
        blocked = self._blocked.get(address) == budgets.window_no()
        if blocked and authorization is None:
            await self._flooding(scope, receive, send, budgets)
            return
        if not keyed:
            send = self._counting_401s(send, address, budgets)
        who, failure = None, None
        if authorization is not None or session is not None:
            try:
                who = await auth.authenticate_cached(self.service.pool, self.keys, authorization, session)
            except auth.Unauthenticated as exc:
                failure = str(exc)
        if failure is not None or (who is None and not public):
            if blocked or not (await budgets.charge(f"addr:{address}", 1, s.unauthenticated_limit)).allowed:
                await self._flooding(scope, receive, send, budgets)
                return
            detail = failure or "Send your API key as 'Authorization: Bearer <key>'"
            await problem_response(401, detail, kind="unauthorized", instance=path,
                                   headers=auth.UNAUTHORIZED_HEADERS)(scope, receive, send)
            return
        if who is not None:
            auth.bind(scope, who)
            if not shares and not await self._charge_key(scope, receive, send, budgets, who):
                return
        elif public and keyed:
            # Anonymous use of a route open by setting (the public scoreboard) spends the address's budget.
            verdict = await budgets.charge(f"anon:{address}", 1, s.rate_limit_requests)
            if not verdict.allowed:
                await too_many("Too many requests from this address", verdict.retry_after_s, path)(scope, receive, send)
                return
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            await nul_refused("query", path)(scope, receive, send)
            return
        declared = _header(scope, b"content-length") or ""
        if declared.isdigit() and int(declared) > s.max_body_bytes:
            await too_large(s.max_body_bytes, path)(scope, receive, send)
            return
        if scope["method"] not in _BODY_METHODS:
            await self._route(scope, receive, send, budgets, who if shares else None)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > s.max_body_bytes:
                await too_large(s.max_body_bytes, path)(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        if where := nul_in_json(bytes(body)):
            await nul_refused(where, path)(scope, receive, send)
            return
        await self._route(scope, _replay(bytes(body), receive), send, budgets, who if shares else None)

    async def _charge_key(self, scope: Scope, receive: Receive, send: Send, budgets: Budgets, who: auth.Caller,
                          conn=None) -> bool:
        s = self.service.settings
        verdict = await budgets.charge(f"key:{who.key_id}", 1, s.rate_limit_requests, conn)
        if not verdict.allowed:
            await too_many(f"More than {s.rate_limit_requests} requests in {s.rate_limit_window_s}s with this key",
                           verdict.retry_after_s, scope["path"])(scope, receive, send)
        return verdict.allowed

    async def _route(self, scope: Scope, receive: Receive, send: Send, budgets: Budgets,
                     sharing: auth.Caller | None) -> None:
        """Hand the request to routing; for a route on the gate's connection, take it, charge, lend it."""
        if sharing is None:
            await self.app(scope, receive, send)
            return
        async with self.service.pool.acquire() as conn:
            if not await self._charge_key(scope, receive, send, budgets, sharing, conn):
                return
            scope[_CONN_KEY] = conn
            try:
                await self.app(scope, receive, send)
            finally:
                del scope[_CONN_KEY]

    def _counting_401s(self, send: Send, address: str, budgets: Budgets) -> Send:
        async def counted(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.start" and message["status"] == 401:
                charged = await budgets.charge(f"addr:{address}", 1, self.service.settings.unauthenticated_limit)
                if not charged.allowed:
                    self._block(address, budgets)

        return counted

    def _block(self, address: str, budgets: Budgets) -> None:
        if len(self._blocked) > _MAX_BLOCKED:
            self._blocked.clear()
        self._blocked[address] = budgets.window_no()

    async def _flooding(self, scope: Scope, receive: Receive, send: Send, budgets: Budgets) -> None:
        self._block(_client(scope), budgets)
        await too_many("Too many unauthenticated requests from this address",
                       budgets.retry_after(), scope["path"])(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body first, then the client's own messages (so a handler still sees a disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def spend(request: Request, units: int) -> None:
    """Spend ``units`` more of the caller's request budget (a batch's items beyond the first, which the
    gate charged), all or nothing; 429 when the budget cannot cover them."""
    who = auth.bound(request.scope)
    if who is None or units <= 0:
        return
    service = request.app.state.service
    s = service.settings
    verdict = await Budgets(service.pool, s.rate_limit_window_s).charge(f"key:{who.key_id}", units, s.rate_limit_requests)
    if not verdict.allowed:
        raise Problem(429, f"This batch needs {units + 1} of the {s.rate_limit_requests} requests allowed per "
                           f"{s.rate_limit_window_s}s with this key, and not enough are left",
                      kind="rate-limited", headers={"Retry-After": str(verdict.retry_after_s)})
