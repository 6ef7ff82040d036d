"""Where webhooks may go: public addresses only, unless WEBHOOK_ALLOWED_NETWORKS lets a network in.

A webhook URL is a request the platform makes on a stranger's behalf, so it must not reach the
platform's own neighbourhood: loopback, link-local (cloud metadata services live at 169.254.169.254),
private, shared, reserved and multicast addresses are refused. The check runs when a subscriber is
saved and again before every delivery, and the delivery connects to the very address that was checked,
so a host name that later resolves elsewhere (DNS rebinding) gains nothing. Redirects are not followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    """A URL the platform will not send webhooks to; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(network, strict=False) for network in settings.WEBHOOK_ALLOWED_NETWORKS]


def check_target(url: str) -> Target:
    """The URL's parts and the one address to connect to; raises ``TargetRefused`` for a URL not to call."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise TargetRefused(f"{url!r} is not a valid URL ({error}).") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("A webhook URL starts with https:// (or http://).")
    if parts.username or parts.password:
        raise TargetRefused("Put no user name or password in the URL: the secret signs every delivery instead.")
    host = parts.hostname
    if not host:
        raise TargetRefused("The URL has no host name.")
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = _resolve(host, port)
    for address in addresses:
        refusal = _refusal(address)
        if refusal:
            raise TargetRefused(
                f"{host} is at {address}, {refusal}: webhooks go to public addresses only. An operator can allow "
                "a network with the WEBHOOK_ALLOWED_NETWORKS setting."
            )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=parts.scheme, host=host, port=port, path=path, address=str(addresses[0]))


def connection_to(target: Target, *, timeout: float) -> http.client.HTTPConnection:
    """An HTTP(S) connection to ``target.address`` that still names ``target.host`` (Host header, TLS SNI and certificate)."""
    if target.scheme == "https":
        return _PinnedHTTPSConnection(target.host, target.port, address=target.address, timeout=timeout)
    return _PinnedHTTPConnection(target.host, target.port, address=target.address, timeout=timeout)


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise TargetRefused(f"{host} cannot be resolved ({error}).") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise TargetRefused(f"{host} resolves to no address.")
    return addresses


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _refusal(address: IPAddress) -> str | None:
    """Why ``address`` is no place for a webhook, or None when it is public (or in an allowed network)."""
    if any(address in network for network in allowed_networks()):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address (mapped, 6to4 2002::/16, Teredo 2001::/32, NAT64 64:ff9b::/96)
        # reach it through a gateway: judge the IPv4 address they carry.
        if address.ipv4_mapped is not None:
            return _refusal(address.ipv4_mapped)
        if address.sixtofour is not None:
            return _refusal(address.sixtofour)
        if address.teredo is not None:
            return _refusal(address.teredo[1])
        if address in _NAT64:
            return _refusal(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    kinds = [
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    ]
    return next((reason for refused, reason in kinds if refused), None)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]
