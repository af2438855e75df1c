"""The HTTP client webhooks are posted with: it connects only to addresses the destination policy vetted.

The check sits where the socket is opened (an httpcore network backend): the host name is resolved once,
every address it resolves to is checked, and the connection goes to one of those very addresses, so a
DNS answer that changes between the check and the connect (rebinding) cannot redirect it. TLS still
verifies the certificate for the host name in the URL (httpcore passes it as the server name). No proxy
from the environment (it would be the one vetted instead), no redirects.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

import certifi
import httpcore
import httpx

from services.notifications.domain.destinations import NOT_PUBLIC, DestinationPolicy, DestinationRefused


def policy_for(settings) -> DestinationPolicy:
    return DestinationPolicy.from_settings(settings.webhook_allow_http, settings.webhook_allowed_destinations)


async def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (an IP literal resolves to itself)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for *_, sockaddr in infos:
        if sockaddr[0] not in seen:
            seen.append(sockaddr[0])
    return seen


async def vetted_addresses(policy: DestinationPolicy, host: str, port: int) -> list[str]:
    """Resolve and check; raise DestinationRefused if any address is not allowed or none exists. One bad
    address refuses the host: a name that also points inside the network is not a partner's endpoint."""
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError):
        addresses = []
    if not addresses:
        raise DestinationRefused(NOT_PUBLIC)
    if not policy.host_allowed(host):
        for address in addresses:
            if "%" in address:  # an IPv6 zone id: a link-local address on one of our interfaces
                raise DestinationRefused(NOT_PUBLIC)
            policy.check_address(address)
    return addresses


class _VettingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: DestinationPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = await vetted_addresses(self.policy, host, port)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise DestinationRefused(NOT_PUBLIC)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class VettedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, policy: DestinationPolicy, *, max_connections: int = 100) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            max_connections=max_connections, max_keepalive_connections=20, keepalive_expiry=5.0,
            network_backend=_VettingBackend(policy),
        )


def client(policy: DestinationPolicy, timeout_s: float, max_connections: int = 100) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=VettedTransport(policy, max_connections=max_connections), timeout=timeout_s,
        follow_redirects=False, trust_env=False,
    )
