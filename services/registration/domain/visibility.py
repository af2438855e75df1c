"""Who sees what in registration: one set of rules, applied by reads and writes alike (a caller cannot change
what it may not see, and is told ``404`` for both, so it cannot tell "hidden" from "absent").

Partners see their own cluster's participants and the exchanges their cluster sends or hosts; coordinators
and ops see the programme. Erased participants are seen by no one (erasure itself tolerates them, so that
it stays idempotent). Activities are the programme's calendar: every caller sees them.
"""

from __future__ import annotations

from typing import Any

from shared.unit_of_work import Caller


def sees_participant(who: Caller, row: Any) -> bool:
    return row is not None and row["status"] != "erased" and who.can_see(row["cluster_id"])


def sees_exchange(who: Caller, row: Any) -> bool:
    return row is not None and (who.can_see(row["sending_cluster_id"]) or who.can_see(row["host_cluster_id"]))


def participant_listing(who: Caller, requested: str | None) -> str | None | bool:
    """The cluster a participant listing is confined to (None: every cluster), or False when the caller may
    see nothing of what it asked for (a partner asking for another cluster)."""
    if who.role != "partner":
        return requested
    return who.cluster_id if requested in (None, who.cluster_id) else False


def exchange_listing(who: Caller) -> str | None:
    """The cluster whose sent or hosted exchanges a listing shows (None: all of them)."""
    return who.cluster_id if who.role == "partner" else None
