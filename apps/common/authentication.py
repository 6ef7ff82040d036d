"""DRF authentication by API token: ``Authorization: Token <key>``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from apps.common.services import api_token_authenticate

if TYPE_CHECKING:
    from rest_framework.request import Request

KEYWORD = "Token"


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticates a request carrying ``Authorization: Token <key>``; other requests are left to the next class.

    A revoked, unknown or malformed token is refused (401) rather than passed on, so a client with a
    bad token learns so instead of being treated as anonymous.
    """

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(
                "Malformed Authorization header: send 'Authorization: Token <key>' with the key and nothing else."
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("The token holds characters a key never has; copy it again.") from None
        token = api_token_authenticate(key=key)
        if token is None:
            raise AuthenticationFailed("Invalid or revoked token: ask an ML admin for a new one.")
        if not token.user.is_active:
            raise AuthenticationFailed("The token's user account is inactive.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # A WWW-Authenticate value makes DRF answer unauthenticated requests with 401 rather than 403.
        return KEYWORD
