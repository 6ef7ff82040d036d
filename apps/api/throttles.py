"""Rate limits on the expensive endpoints: predictions, bulk writes, and the token login.

Over the limit, a request gets 429 with ``Retry-After`` (seconds) and the error code ``throttled``. Rates
are settings (``API_THROTTLE_RATES``, from ``API_THROTTLE_PREDICT``, ``API_THROTTLE_BULK`` and
``API_THROTTLE_LOGIN``), read on every request so a test or an operator can change them. Counts live in
Django's cache: with ``CACHE_URL`` pointing at Redis, every web process shares them. Signed out, a
request counts by its address as ``apps.common.addresses`` reads it. Repeated wrong passwords lock the
address and the account out on every door (django-axes, see settings), whatever the rates here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from apps.common.addresses import client_address

if TYPE_CHECKING:
    from rest_framework.request import Request

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class _ScopedThrottle(SimpleRateThrottle):
    """Counts a user's (or, signed out, an address's) writes to the endpoints of one scope."""

    scope: str

    def __init__(self) -> None:
        # SimpleRateThrottle reads its rate in __init__ from a class attribute fixed at import time.
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)

    def get_ident(self, request: Request) -> str:
        """The client's address as NUM_PROXIES and TRUSTED_PROXIES say, never a forged X-Forwarded-For."""
        return client_address(request) or "unknown"

    def get_cache_key(self, request: Request, view: Any) -> str:
        user = request.user
        ident = f"user-{user.pk}" if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class PredictThrottle(_ScopedThrottle):
    scope = "predict"


class BulkThrottle(_ScopedThrottle):
    scope = "bulk"


class LoginThrottle(_ScopedThrottle):
    """Per address: a password guesser gets a handful of tries a minute, whoever it claims to be."""

    scope = "login"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
