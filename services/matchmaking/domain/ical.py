"""The agenda as an iCalendar feed (RFC 5546 PUBLISH), times in the activity's IANA timezone. Pure.

PUBLISH carries no ATTENDEE: the feed is read by whoever may see the agenda, and the participants are
named only as they are in the JSON agenda (by participant id), never by address.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from shared import ical

DEFAULT_ORGANIZER = "ClusterXchange <no-reply@clusterxchange.eu>"


def calendar(activity: dict, items: list[dict], participant_id: str | None, *, now: datetime,
             organizer: str = DEFAULT_ORGANIZER) -> str:
    zone = ZoneInfo(activity["meetings"]["timezone"])
    host = ical.organizer(organizer)
    events = []
    for it in items:
        other = it["with"] if participant_id else f"{it['requester_id']} / {it['target_id']}"
        events.append(ical.meeting_event(
            meeting_id=it["meeting_id"], sequence=int(it["schedule_version"] or 0),
            starts_at=datetime.fromisoformat(it["starts_at"]), ends_at=datetime.fromisoformat(it["ends_at"]),
            zone=zone, summary=f"{activity['title']} — B2B meeting with {other}",
            location="online" if it["online"] else f"table {it['table']}", organizer=host, stamp=now,
        ))
    return ical.serialize(ical.calendar("PUBLISH", "Matchmaking", events, zone))
