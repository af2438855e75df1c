"""iCalendar (RFC 5545) agendas, times in the activity's IANA timezone. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from shared import ical


def _offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _local(dt: datetime, tz: ZoneInfo) -> str:
    return dt.astimezone(tz).strftime("%Y%m%dT%H%M%S")


def calendar(activity: dict, items: list[dict], participant_id: str | None, *, now: datetime) -> str:
    tz = ZoneInfo(activity["meetings"]["timezone"])
    tzid = str(tz)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//ClusterXchange//Matchmaking//EN", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH", ical.line("X-WR-TIMEZONE", tzid, text=True)]
    # One observance per distinct UTC offset the meetings fall in, so TZID resolves without the client
    # knowing the IANA database (an activity rarely spans a DST change, but it may).
    observances = {}
    for it in items:
        start = datetime.fromisoformat(it["starts_at"]).astimezone(tz)
        off = start.utcoffset()
        observances.setdefault(off, (start, start.dst()))
    if observances:
        lines += ["BEGIN:VTIMEZONE", ical.line("TZID", tzid, text=True)]
        for off, (start, dst) in sorted(observances.items(), key=lambda kv: kv[1][0]):
            kind = "DAYLIGHT" if dst else "STANDARD"
            lines += [f"BEGIN:{kind}", f"DTSTART:{start.replace(tzinfo=None).strftime('%Y%m%dT000000')}",
                      f"TZOFFSETFROM:{_offset(off)}", f"TZOFFSETTO:{_offset(off)}",
                      ical.line("TZNAME", start.tzname() or "", text=True), f"END:{kind}"]
        lines.append("END:VTIMEZONE")
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    for it in items:
        start, end = datetime.fromisoformat(it["starts_at"]), datetime.fromisoformat(it["ends_at"])
        other = it["with"] if participant_id else f"{it['requester_id']} / {it['target_id']}"
        where = "online" if it["online"] else f"table {it['table']}"
        lines += [
            "BEGIN:VEVENT",
            ical.line("UID", f"{it['meeting_id']}@clusterxchange", text=True),
            f"DTSTAMP:{stamp}",
            f"SEQUENCE:{int(it['schedule_version'] or 0)}",
            ical.line("DTSTART", _local(start, tz), tzid=tzid),
            ical.line("DTEND", _local(end, tz), tzid=tzid),
            ical.line("SUMMARY", f"{activity['title']} — B2B meeting with {other}", text=True),
            ical.line("LOCATION", where, text=True),
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ical.serialize(lines)
