"""The address a request comes from, as every limit on the platform counts it.

``X-Forwarded-For`` is whatever the client wrote, unless a proxy of ours stands in front and appends the
address it saw. So the header is read only as far as the deployment says: ``NUM_PROXIES`` is how many
proxies of ours a request passes (each appends one address, the last one is the peer in
``REMOTE_ADDR``), and ``TRUSTED_PROXIES`` (CIDRs) the networks those proxies live in; a peer outside
them is the client itself, whatever it forwards. With neither set, the header is ignored: a forged one
changes nothing.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings


def client_address(request: Any) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or the one our proxies put in ``X-Forwarded-For``."""
    meta = getattr(request, "META", {})
    peer = meta.get("REMOTE_ADDR")
    proxies = int(settings.NUM_PROXIES)
    if proxies <= 0 or not peer or not _is_trusted(peer):
        return peer
    forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    chain = [*forwarded, peer]
    # The peer is the last proxy; each proxy before it appended the address it saw.
    index = max(len(chain) - 1 - proxies, 0)
    candidate = chain[index]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        # A proxy wrote something that is not an address (or the client did, past a short chain).
        return peer


def _is_trusted(peer: str) -> bool:
    networks = settings.TRUSTED_PROXIES
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)
