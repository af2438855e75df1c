"""How a browser reaches the dashboard: a sign-in that turns an API key into a session cookie.

- ``GET /signin`` shows a form; ``POST /signin`` (``key=...``) checks the key and sets the cookie.
- ``POST /v1/dashboard-links`` (any key) returns a one-time link, valid for ``link_ttl_s``, that signs its
  first visitor in as that key: what ``cxc reporting dashboard-link`` prints for a coordinator, and what
  a headless browser can open.

The cookie holds a random token whose SHA-256 is stored with the key's id (shared/auth.py), never the key;
it is HttpOnly (no script reads it), SameSite=Strict (no other site's page or form sends it) and the gate
accepts it for GET and HEAD only, so it can read the scoreboard but never write anything. Revoking the
key ends its sessions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.reporting.entrypoints import schemas as out
from shared import auth
from shared.auth import CallerDep, public
from shared.openapi import ok
from shared.service import pool_of

router = APIRouter(tags=["dashboard"])

_FORM = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ClusterXchange · sign in</title></head>
<body style="font-family: system-ui, sans-serif; margin: 3em;"><h1>ClusterXchange scoreboard</h1>
<form method="post" action="/signin"><label>API key <input type="password" name="key" autocomplete="off" size="50"></label>
<button type="submit">Sign in</button></form>{}</body></html>"""


def _signed_in(request: Request, token: str) -> RedirectResponse:
    settings = request.app.state.service.settings
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(auth.SESSION_COOKIE, token, max_age=int(settings.session_ttl_s), httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


@router.get("/signin", response_class=HTMLResponse, include_in_schema=False)
@public("the sign-in form")
async def signin_form() -> HTMLResponse:
    return HTMLResponse(_FORM.format(""))


@router.post("/signin", include_in_schema=False)
@public("sign-in: the key comes in the form and is checked here")
async def signin(request: Request):
    settings = request.app.state.service.settings
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=5)
    key = (fields.get("key") or [""])[0].strip()
    async with pool_of(request).acquire() as conn:
        try:
            who = await auth.authenticate(conn, f"Bearer {key}", None)
        except auth.Unauthenticated:
            who = None
        if who is None:
            # The gate counts this 401 against the address, as every other.
            return HTMLResponse(_FORM.format("<p>That key is unknown or revoked.</p>"), status_code=401)
        token = await auth.open_session(conn, who.key_id, settings.session_ttl_s)
    return _signed_in(request, token)


@router.get("/signin/{token}", include_in_schema=False)
@public("one-time dashboard link: the token is the credential, redeemed once")
async def redeem(token: str, request: Request):
    settings = request.app.state.service.settings
    async with pool_of(request).acquire() as conn, conn.transaction():
        session = await auth.redeem_link(conn, token, settings.session_ttl_s)
    if session is None:
        return HTMLResponse(_FORM.format("<p>That link is unknown, used or expired: sign in with a key.</p>"),
                            status_code=404)
    return _signed_in(request, session)


@router.post("/v1/dashboard-links", status_code=201, summary="A one-time link that opens the dashboard signed in",
             response_model=None, responses=ok(out.DashboardLink, 201))
async def dashboard_link(request: Request, who: CallerDep) -> dict:
    settings = request.app.state.service.settings
    async with pool_of(request).acquire() as conn:
        token = await auth.open_session(conn, who.key_id, settings.link_ttl_s, kind="link")
    expires = datetime.now(UTC) + timedelta(seconds=settings.link_ttl_s)
    return {"path": f"/signin/{token}", "expires_at": expires.isoformat()}
