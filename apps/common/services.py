"""API tokens: create one (its key shown once), revoke one, and find the token a request presents."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.utils import timezone

from apps.common.models import ApiToken

if TYPE_CHECKING:
    from django.contrib.auth.models import User

PREFIX_LENGTH = 8
# 32 random bytes: 43 URL-safe characters.
KEY_BYTES = 32
# last_used_at is written at most this often, so a busy integration does not write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenError(ValueError):
    """A token cannot be created as asked; the message says why."""


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``, and its key: the only time the key exists outside the client.

    The database keeps the key's sha256 only, so a leaked database leaks no usable key.
    """
    name = name.strip()
    if not name:
        raise ApiTokenError("Give the token a name that says what it is for, e.g. 'nightly export'.")
    longest = ApiToken._meta.get_field("name").max_length or 0
    if len(name) > longest:
        raise ApiTokenError(f"A token name is at most {longest} characters (got {len(name)}).")
    if not user.is_active:
        raise ApiTokenError(f"User {user} is inactive; activate the account before giving it a token.")
    key = secrets.token_urlsafe(KEY_BYTES)
    token = ApiToken.objects.create(user=user, name=name, prefix=key[:PREFIX_LENGTH], key_hash=hash_key(key))
    return token, key


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke a token for good; revoking a revoked token changes nothing."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=token.revoked_at)
    return token


def api_token_authenticate(*, key: str) -> ApiToken | None:
    """The active token whose key is ``key`` (with its user), or None.

    Rows are found by the key's public prefix and the hashes compared in constant time, so response
    times say nothing about how close a guess was. Touches ``last_used_at`` at most once a minute.
    """
    if len(key) < PREFIX_LENGTH:
        return None
    presented = hash_key(key)
    candidates = ApiToken.objects.select_related("user").filter(prefix=key[:PREFIX_LENGTH], revoked_at__isnull=True)
    match = None
    for candidate in candidates:
        if hmac.compare_digest(candidate.key_hash, presented):
            match = candidate
    if match is None:
        return None
    now = timezone.now()
    if match.last_used_at is None or now - match.last_used_at >= LAST_USED_RESOLUTION:
        match.last_used_at = now
        ApiToken.objects.filter(pk=match.pk).update(last_used_at=now)
    return match


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
