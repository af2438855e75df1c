"""Who hears about an event, with which template: pure decisions, no I/O.

A plan names the recipient by participant id only; the address is looked up when the mail is sent,
so an erased participant is never written to and no event or plan holds contact data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.events.catalogue import EventData

REMINDER_OFFSETS = {"24h": timedelta(hours=24), "15m": timedelta(minutes=15)}
_REMINDER_NS = uuid.UUID("6f1d3c52-58a4-4a8e-9a3b-6c1f0b6f2a11")


@dataclass(frozen=True)
class EmailPlan:
    recipient: str
    template: str
    context: dict = field(default_factory=dict)
    meeting_id: str | None = None


@dataclass(frozen=True)
class ReminderPlan:
    key: uuid.UUID  # stands in for the event id: one reminder per (meeting, start time, offset, recipient)
    recipient: str
    due_at: datetime
    context: dict
    meeting_id: str


def _meeting_context(e, counterpart: str, **extra) -> dict:
    return {"activity_id": e.activity_id, "meeting_id": e.meeting_id, "counterpart_id": counterpart, **extra}


def email_plans(event_type: str, e: EventData, meeting: dict | None = None) -> list[EmailPlan]:
    """``meeting``: what is known of a meeting's last slot (starts_at, ends_at, table, online), for the
    cancellation of an agenda entry whose event does not repeat the slot."""
    match event_type:
        case "participant.registered":
            return [EmailPlan(e.participant_id, "registration_confirmed", {"cluster_id": e.profile.cluster_id})]
        case "exchange.approved":
            return [EmailPlan(e.participant_id, "exchange_approved",
                              {"exchange_id": e.exchange_id, "lump_sum": e.lump_sum_eur})]
        case "exchange.cancelled":
            return [EmailPlan(e.participant_id, "exchange_cancelled", {"exchange_id": e.exchange_id})]
        case "exchange.completed":
            return [EmailPlan(e.participant_id, "exchange_completed", {"exchange_id": e.exchange_id})]
        case "meeting.requested":
            return [EmailPlan(e.target_id, "meeting_requested",
                              _meeting_context(e, e.requester_id, expires=e.expires_at.isoformat()), e.meeting_id)]
        case "meeting.accepted" | "meeting.declined" | "meeting.expired":
            template = "meeting_" + event_type.split(".")[1]
            return [EmailPlan(e.requester_id, template, _meeting_context(e, e.target_id), e.meeting_id)]
        case "meeting.scheduled":
            slot = {"starts": e.starts_at.isoformat(), "ends": e.ends_at.isoformat(), "table": e.table,
                    "online": e.online, "sequence": e.schedule_version}
            return [
                EmailPlan(me, "meeting_scheduled", _meeting_context(e, other, **slot), e.meeting_id)
                for me, other in ((e.requester_id, e.target_id), (e.target_id, e.requester_id))
            ]
        case "meeting.unscheduled":
            slot = {"sequence": e.schedule_version, "reason": e.reason}
            if meeting and meeting.get("starts_at"):
                slot |= {"starts": meeting["starts_at"].isoformat(), "ends": meeting["ends_at"].isoformat(),
                         "table": meeting.get("table"), "online": meeting.get("online", False)}
            return [
                EmailPlan(me, "meeting_unscheduled", _meeting_context(e, other, **slot), e.meeting_id)
                for me, other in ((e.requester_id, e.target_id), (e.target_id, e.requester_id))
            ]
        case "meeting.held":
            return [
                EmailPlan(me, "feedback_request", _meeting_context(e, other), e.meeting_id)
                for me, other in ((e.requester_id, e.target_id), (e.target_id, e.requester_id))
            ]
    return []


def reminder_plans(e, now: datetime) -> list[ReminderPlan]:
    """Reminders for a scheduled meeting. A moved meeting has a new start, hence new keys: the old
    reminders are cancelled by the caller, and one already sent for the old time does not block the new."""
    plans = []
    for label, offset in REMINDER_OFFSETS.items():
        due = e.starts_at - offset
        if due <= now:
            continue
        for me, other in ((e.requester_id, e.target_id), (e.target_id, e.requester_id)):
            key = uuid.uuid5(_REMINDER_NS, f"{e.meeting_id}|{e.starts_at.isoformat()}|{label}")
            context = _meeting_context(
                e, other, starts=e.starts_at.isoformat(), ends=e.ends_at.isoformat(), table=e.table,
                online=e.online, reminder=label,
            )
            plans.append(ReminderPlan(key, me, due, context, e.meeting_id))
    return plans


def digest_key(target_id: str, day: str) -> uuid.UUID:
    """One digest per participant and day, whichever replica plans it and however often."""
    return uuid.uuid5(_REMINDER_NS, f"digest|{target_id}|{day}")
