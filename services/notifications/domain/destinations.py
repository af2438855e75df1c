"""Where a webhook may point: public HTTPS endpoints of partners, never this platform's own network.

A webhook makes this service send requests to a URL a partner chose, from inside the deployment. Without a
policy that is server-side request forgery: ``http://registration:8001/…``, the cloud metadata address
``169.254.169.254``, a database port on ``10.0.0.5``. The policy, checked when a hook is created and again
for every address a host name resolves to right before connecting (so DNS rebinding cannot slip past it):

- https only, unless ``allow_http`` (local development);
- no user:password in the URL; a host name must be fully qualified (no bare ``registration``, ``kafka``,
  ``postgres`` or other compose service names) and not ``localhost`` or a local-only suffix;
- every address must be globally routable: no loopback, private (RFC 1918), shared/CGNAT (100.64/10),
  link-local (169.254/16, fe80::/10), multicast, unspecified, reserved, documentation, IPv6 unique local
  (fc00::/7), and no IPv6 address that embeds an IPv4 one (mapped, 6to4, Teredo, NAT64) unless that IPv4
  address would pass on its own.

``allowed`` lists exceptions an operator chose: networks (``10.20.0.0/16``, ``127.0.0.1``) whose
addresses pass, and host names (``receiver.internal``, ``mock-partner``) that pass with whatever they
resolve to. The tests' own receivers listen on loopback and are allowed this way.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".home.arpa", ".lan", ".intranet")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")

NOT_PUBLIC = "the webhook URL must point to a public internet host"


class DestinationRefused(ValueError):
    """A destination the policy does not allow; the text is safe to show to the subscriber."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower-case; an IP literal without brackets
    port: int


@dataclass(frozen=True)
class DestinationPolicy:
    allow_http: bool = False
    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_settings(cls, allow_http: bool, allowed: tuple[str, ...] | list[str]) -> DestinationPolicy:
        networks, hosts = [], set()
        for entry in allowed:
            entry = entry.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(allow_http=allow_http, networks=tuple(networks), hosts=frozenset(hosts))

    def check_url(self, url: str) -> Target:
        """The URL's scheme and host name, before any resolution."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http"):
            raise DestinationRefused("the webhook URL must use https")
        if scheme == "http" and not self.allow_http:
            raise DestinationRefused("the webhook URL must use https")
        if parts.username is not None or parts.password is not None:
            raise DestinationRefused("the webhook URL must not contain credentials")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise DestinationRefused("the webhook URL has an invalid port") from None
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise DestinationRefused("the webhook URL has no host")
        target = Target(scheme, host, port)
        if self.host_allowed(host):
            return target
        address = _literal(host)
        if address is not None:
            self.check_address(address)
            return target
        if "." not in host or host == "localhost" or host.endswith(_LOCAL_SUFFIXES) or not _looks_like_a_name(host):
            raise DestinationRefused(NOT_PUBLIC)
        return target

    def host_allowed(self, host: str) -> bool:
        return host.rstrip(".").lower() in self.hosts

    def check_address(self, address: str | IPAddress) -> None:
        """Raise unless ``address`` is globally routable or inside an allowed network."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if ip.version == 6 and ip.scope_id:
            raise DestinationRefused(NOT_PUBLIC)
        if any(ip in net for net in self.networks):
            return
        if not _public(ip):
            raise DestinationRefused(NOT_PUBLIC)
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            self.check_address(embedded)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _looks_like_a_name(host: str) -> bool:
    # Every label has a letter somewhere in the name: rules out 127.1, 0x7f.1, 2130706433.0 and other
    # numeric spellings that resolvers turn into addresses no ip_address() parse would recognise.
    return any(ch.isalpha() for ch in host.rsplit(".", 1)[-1]) and all(host.split("."))


def _public(ip: IPAddress) -> bool:
    if ip.is_multicast or ip.is_unspecified or ip.is_loopback or ip.is_link_local or ip.is_reserved:
        return False
    if ip.version == 4 and ip in _CGNAT:
        return False
    if ip.version == 6 and (ip in _NAT64_LOCAL or ip.is_site_local):
        return False
    return ip.is_global and not ip.is_private


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None
