"""Rendering one e-mail: translated strings into the text and HTML layouts (HTML autoescaped)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.notifications.domain.i18n import COMMON, MESSAGES, language_of

_env = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    language: str


MISSING = "[?]"


class _Blank(dict):
    """A value the event did not give shows as a visible marker rather than failing the whole mail."""

    def __missing__(self, key: str) -> str:
        return MISSING


def local_time(at: datetime | str, timezone: str | None) -> str:
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    try:
        zone = ZoneInfo(timezone) if timezone else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone, timezone = ZoneInfo("UTC"), "UTC"
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M} ({timezone or 'UTC'})"


def render(template: str, language: str | None, values: dict, *, unsubscribe_url: str | None = None) -> Rendered:
    """``values``: name, organisation, counterpart, activity, starts, expires, lump_sum, table, online, timezone."""
    lang = language_of(language)
    common = COMMON[lang]
    subject_fmt, lead_fmt = MESSAGES[template].get(lang, MESSAGES[template]["en"])
    fill = _Blank({k: v for k, v in values.items() if v is not None})
    if "starts" in fill:
        fill["starts"] = local_time(fill["starts"], values.get("timezone"))
    if "expires" in fill:
        fill["expires"] = local_time(fill["expires"], values.get("timezone"))
    facts = []
    if values.get("activity"):
        facts.append((common["activity"], values["activity"]))
    if "starts" in fill and template in {"meeting_scheduled", "meeting_reminder"}:
        facts.append((common["when"], fill["starts"]))
        where = common["online"] if values.get("online") else (
            common["table"].format(table=values["table"]) if values.get("table") is not None else None)
        if where:
            facts.append((common["where"], where))
    if values.get("lump_sum") is not None:
        facts.append((common["lump_sum"], f"{values['lump_sum']} EUR"))
    context = {
        "lang": lang,
        "subject": subject_fmt.format_map(fill),
        "greeting": common["greeting"].format(name=values.get("name") or ""),
        "lead": lead_fmt.format_map(fill),
        "facts": facts,
        "closing": common["closing"],
        "unsubscribe_url": unsubscribe_url,
        "unsubscribe_label": common["unsubscribe"],
    }
    return Rendered(
        subject=context["subject"],
        text=_env.get_template("email.txt.j2").render(context),
        html=_env.get_template("email.html.j2").render(context),
        language=lang,
    )
