"""Contact data, asked from registration at send time (events never carry it)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from pydantic import SecretStr


@dataclass(frozen=True)
class Contact:
    participant_id: str
    cluster_id: str
    organisation: str
    name: str
    email: str
    language: str
    marketing_consent: bool


class ContactUnavailable(RuntimeError):
    """Registration did not answer usefully: try the delivery again later."""


class Contacts:
    def __init__(self, base_url: str, token: SecretStr, timeout_s: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_s,
            headers={"Authorization": f"Bearer {token.get_secret_value()}"},
        )

    async def get(self, participant_id: str) -> Contact | None:
        """The contact, or None when registration has none (erased or unknown): then nothing is sent."""
        try:
            r = await self._client.get(f"/internal/v1/contacts/{participant_id}")
        except httpx.HTTPError as exc:
            raise ContactUnavailable(f"contact lookup failed: {exc!r}") from exc
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise ContactUnavailable(f"contact lookup answered {r.status_code}")
        c = r.json()
        return Contact(
            participant_id=c["participant_id"], cluster_id=c["cluster_id"], organisation=c.get("organisation") or "",
            name=c.get("name") or "", email=c["email"], language=c.get("language") or "en",
            marketing_consent=bool(c.get("marketing_consent")),
        )

    async def close(self) -> None:
        await self._client.aclose()
