"""The live event stream for ops: ``GET /stream`` (page) and ``GET /v1/stream/events`` (Server-Sent Events).

Each SSE client gets its own group-less consumer positioned at the end of the topics, so watching
never moves any service's offsets. The page, the events endpoint and the lag endpoint need a coordinator
or ops key (events carry organisation names and ids, never contact data): a browser signed in at
``/signin`` uses its session cookie, or the page asks for the key and sends it in the Authorization
header, so it never appears in a URL or a log.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from services.reporting.adapters import eventlog
from services.reporting.entrypoints import schemas as out
from shared.auth import OpsDep
from shared.events.envelope import Envelope
from shared.events.topics import TOPICS
from shared.messaging.lag import lag_rows
from shared.openapi import ok

router = APIRouter(tags=["stream"])

CLUSTER_FIELDS = ("cluster_id", "sending_cluster_id", "host_cluster_id")


def clusters_of(data: dict[str, Any]) -> set[str]:
    found = {data[f] for f in CLUSTER_FIELDS if isinstance(data.get(f), str)}
    profile = data.get("profile")
    if isinstance(profile, dict) and isinstance(profile.get("cluster_id"), str):
        found.add(profile["cluster_id"])
    return found


def matches(topic: str, envelope: Envelope, topics: set[str], types: set[str], cluster: str | None) -> bool:
    if topics and topic not in topics:
        return False
    if types and envelope.type not in types and envelope.type.split(".", 1)[0] not in types:
        return False
    return cluster is None or cluster in clusters_of(envelope.data)


def sse(envelope: Envelope, topic: str) -> str:
    body = {"topic": topic, "clusters": sorted(clusters_of(envelope.data)), **envelope.model_dump(mode="json")}
    return f"id: {envelope.id}\nevent: {envelope.type}\ndata: {json.dumps(body, ensure_ascii=False)}\n\n"


@router.get("/v1/stream/events", summary="Events as they flow (text/event-stream); ops and coordinators",
            response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def stream_events(
    request: Request,
    who: OpsDep,
    topic: Annotated[list[str], Query(description="Topic names (repeatable)")] = [],  # noqa: B006
    type: Annotated[list[str], Query(description="Event types or prefixes, e.g. exchange (repeatable)")] = [],  # noqa: A002,B006
    cluster: Annotated[str | None, Query(description="Only events naming this cluster")] = None,
) -> StreamingResponse:
    settings = request.app.state.service.settings
    names = [t for t in TOPICS if not topic or t in topic]

    async def events() -> AsyncIterator[str]:
        source = eventlog.tail(settings.kafka_bootstrap, names, settings.broker_timeout_s, settings.namespace)
        ready = False
        try:
            async for name, envelope in source:
                if await request.is_disconnected():
                    return
                if envelope is None:
                    yield ": keepalive\n\n" if ready else ": ready\n\n"
                    ready = True
                elif matches(name, envelope, set(topic), set(type), cluster or None):
                    yield sse(envelope, name)
        finally:
            await source.aclose()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/v1/stream/lag", summary="Consumer lag per consumer group (service) and topic; ops and coordinators",
            response_model=None, responses=ok(out.Lag))
async def consumer_lag(request: Request, who: OpsDep) -> dict:
    settings = request.app.state.service.settings
    rows = await lag_rows(settings.kafka_bootstrap, timeout_s=settings.broker_timeout_s, namespace=settings.namespace)
    groups: dict[str, dict[str, int]] = {}
    for row in rows:
        by_topic = groups.setdefault(row["group"], {})
        by_topic[row["topic"]] = by_topic.get(row["topic"], 0) + row["lag"]
    return {"groups": [{"group": g, "lag": sum(t.values()), "by_topic": dict(sorted(t.items()))}
                       for g, t in sorted(groups.items())]}


@router.get("/stream", response_class=HTMLResponse, summary="Live event stream page for ops")
async def stream_page() -> HTMLResponse:
    options = "".join(f'<option value="{name}">{name}</option>' for name in TOPICS)
    return HTMLResponse(PAGE.replace("{{TOPICS}}", options))


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ClusterXchange · live events</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>
body{margin:0;font:14px/1.4 system-ui,sans-serif;color:#1d2733;background:#f3f5f8}
header{padding:14px 24px;background:#12355b;color:#fff}header a{color:#fff}h1{margin:0;font-size:20px}
form,#lag{padding:10px 24px;background:#fff;border-bottom:1px solid #dde3ea;display:flex;gap:12px;flex-wrap:wrap;align-items:center}
input,select,button{font:inherit;padding:3px 6px}main{padding:0 24px}table{width:100%;border-collapse:collapse;background:#fff}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef1f4;vertical-align:top}th{background:#e9eef4}
td.data{font-family:ui-monospace,monospace;font-size:12px;color:#44505c;max-width:640px;overflow-wrap:anywhere}
#status{color:#5b6770}.pill{background:#e9eef4;border-radius:10px;padding:1px 8px;margin-right:6px}
</style></head><body>
<header><h1>ClusterXchange · live events</h1><a href="/">scoreboard</a></header>
<form id="f">
<label>Ops or coordinator key <input id="key" type="password" size="34" autocomplete="off" required></label>
<label>Topic <select id="topic"><option value="">all</option>{{TOPICS}}</select></label>
<label>Type <input id="type" placeholder="e.g. exchange or exchange.approved" size="26"></label>
<label>Cluster <input id="cluster" placeholder="e.g. gaia" size="14"></label>
<button>Watch</button><span id="status">not connected</span></form>
<div id="lag"><strong>Consumer lag</strong> <span id="lagv">–</span></div>
<main><table><thead><tr><th>time</th><th>type</th><th>topic</th><th>subject</th><th>clusters</th><th>data</th></tr></thead>
<tbody id="rows"></tbody></table></main>
<script>
const $ = id => document.getElementById(id);
// A key may come in the fragment (#key=…), which browsers never send to the server; it is moved out of the URL.
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("key")) { sessionStorage.setItem("cxc-key", fragment.get("key")); history.replaceState(null, "", location.pathname); }
$("key").value = sessionStorage.getItem("cxc-key") || "";
let controller = null;
function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }
function show(ev) {
  const tr = document.createElement("tr");
  [ev.time.replace("T", " ").slice(0, 19), ev.type, ev.topic, ev.subject, ev.clusters.join(", ")].forEach(t => tr.appendChild(cell(t)));
  tr.appendChild(cell(JSON.stringify(ev.data), "data"));
  $("rows").prepend(tr);
  while ($("rows").children.length > 500) $("rows").lastChild.remove();
}
// Signed in (the session cookie) the key may stay empty: the cookie goes with every same-origin fetch.
const auth = key => key ? {Authorization: "Bearer " + key} : {};
async function lag() {
  const r = await fetch("/v1/stream/lag", {headers: auth($("key").value)});
  if (!r.ok) { $("lagv").textContent = "unavailable (" + r.status + ")"; return; }
  const groups = (await r.json()).groups;
  $("lagv").replaceChildren(...groups.map(g => { const s = document.createElement("span"); s.className = "pill";
    s.textContent = g.group + ": " + g.lag; return s; }));
}
async function watch(e) {
  if (e) e.preventDefault();
  if (controller) controller.abort();
  controller = new AbortController();
  const key = $("key").value; sessionStorage.setItem("cxc-key", key);
  const q = new URLSearchParams();
  if ($("topic").value) q.append("topic", $("topic").value);
  if ($("type").value) q.append("type", $("type").value.trim());
  if ($("cluster").value) q.append("cluster", $("cluster").value.trim());
  $("status").textContent = "connecting…";
  try {
    const r = await fetch("/v1/stream/events?" + q, {headers: auth(key), signal: controller.signal});
    if (!r.ok) { $("status").textContent = "refused: " + r.status + " " + ((await r.json()).detail || ""); return; }
    $("status").textContent = "connected";
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read(); if (done) break;
      buffer += value;
      let i;
      while ((i = buffer.indexOf("\\n\\n")) >= 0) {
        const block = buffer.slice(0, i); buffer = buffer.slice(i + 2);
        const data = block.split("\\n").filter(l => l.startsWith("data: ")).map(l => l.slice(6)).join("\\n");
        if (data) show(JSON.parse(data));
      }
    }
    $("status").textContent = "disconnected";
  } catch (err) { if (err.name !== "AbortError") $("status").textContent = "error: " + err; }
}
$("f").addEventListener("submit", watch);
setInterval(lag, 5000);
watch(); lag();
</script></body></html>"""
