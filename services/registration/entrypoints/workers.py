"""Background work of the registration service."""

from __future__ import annotations

from services.registration.adapters import repository
from services.registration.settings import RegistrationSettings
from shared.housekeeping import Pruning


def expired_idempotency_keys(settings: RegistrationSettings) -> Pruning:
    """Stored responses are kept for ``idempotency_ttl_hours``: long enough for any partner's retries. Pruned
    by the service's housekeeping job (shared/housekeeping.py)."""
    ttl = settings.idempotency_ttl_hours
    return Pruning("idempotency_keys", lambda conn, limit: repository.forget_idempotency_keys(conn, ttl, limit))
