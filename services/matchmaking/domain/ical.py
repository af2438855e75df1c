"""iCalendar (RFC 5545) agendas, times in the activity's IANA timezone. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> list[str]:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 §3.1)."""
    out, raw = [], line.encode()
    while len(raw) > 75:
        cut = 75 if not out else 74
        while (raw[cut] & 0xC0) == 0x80:  # never split a UTF-8 sequence
            cut -= 1
        out.append(raw[:cut].decode())
        raw = raw[cut:]
    out.append(raw.decode())
    return [out[0], *(" " + rest for rest in out[1:])]


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
             "METHOD:PUBLISH", f"X-WR-TIMEZONE:{tzid}"]
    # One observance per distinct UTC offset the meetings fall in, so TZID resolves without the client
    # knowing the IANA database (an activity rarely spans a DST change, but it may).
    observances = {}
    for it in items:
        start = datetime.fromisoformat(it["starts_at"]).astimezone(tz)
        off = start.utcoffset()
        observances.setdefault(off, (start, start.dst()))
    if observances:
        lines += ["BEGIN:VTIMEZONE", f"TZID:{tzid}"]
        for off, (start, dst) in sorted(observances.items(), key=lambda kv: kv[1][0]):
            kind = "DAYLIGHT" if dst else "STANDARD"
            lines += [f"BEGIN:{kind}", f"DTSTART:{start.replace(tzinfo=None).strftime('%Y%m%dT000000')}",
                      f"TZOFFSETFROM:{_offset(off)}", f"TZOFFSETTO:{_offset(off)}",
                      f"TZNAME:{start.tzname()}", f"END:{kind}"]
        lines.append("END:VTIMEZONE")
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    for it in items:
        start, end = datetime.fromisoformat(it["starts_at"]), datetime.fromisoformat(it["ends_at"])
        other = it["with"] if participant_id else f"{it['requester_id']} / {it['target_id']}"
        where = "online" if it["online"] else f"table {it['table']}"
        lines += [
            "BEGIN:VEVENT",
            f"UID:{it['meeting_id']}@clusterxchange",
            f"DTSTAMP:{stamp}",
            f"SEQUENCE:{it['schedule_version'] or 0}",
            f"DTSTART;TZID={tzid}:{_local(start, tz)}",
            f"DTEND;TZID={tzid}:{_local(end, tz)}",
            f"SUMMARY:{_escape(activity['title'] + ' — B2B meeting with ' + other)}",
            f"LOCATION:{_escape(where)}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(f"{folded}\r\n" for line in lines for folded in _fold(line))
