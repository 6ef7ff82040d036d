"""The three roles people have on the platform, held as Django groups.

- **analyst**: labels reviews, reads runs, metrics and models, tries predictions.
- **ml_admin**: everything an analyst does, plus imports, snapshots, runs, promotion and rollback.
- **integration**: a machine account calling the REST API with a token.

A superuser counts as an ML admin (and so as an analyst). The groups are created by a data migration;
``role_group`` creates one on demand where a database was flushed (transactional tests).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest, HttpResponse
    from rest_framework.request import Request
    from rest_framework.views import APIView

ViewT = TypeVar("ViewT", bound=Callable[..., "HttpResponse"])


def signed_in(request: HttpRequest | Request) -> User:
    """The user of a page or endpoint that lets only signed-in users in (ApiView, the page decorators, the admin)."""
    return cast("User", request.user)

ANALYST = "analyst"
ML_ADMIN = "ml_admin"
INTEGRATION = "integration"
ROLES = (ANALYST, ML_ADMIN, INTEGRATION)

# Set on the user object so one request asks the database for the user's groups once.
_CACHE_ATTRIBUTE = "_role_names"


def role_group(name: str) -> Group:
    """The group of role ``name``, created if it is missing."""
    if name not in ROLES:
        raise ValueError(f"Unknown role {name!r}; the roles are {', '.join(ROLES)}.")
    group, _ = Group.objects.get_or_create(name=name)
    return group


def role_names(user: Any) -> frozenset[str]:
    """The roles ``user`` holds through their groups (none for an anonymous or inactive user)."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return frozenset()
    cached = getattr(user, _CACHE_ATTRIBUTE, None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        setattr(user, _CACHE_ATTRIBUTE, cached)
    return cached


def is_ml_admin(user: Any) -> bool:
    """A superuser, or a member of the ml_admin group."""
    if user is None or not getattr(user, "is_active", False):
        return False
    return bool(getattr(user, "is_superuser", False)) or ML_ADMIN in role_names(user)


def is_analyst(user: Any) -> bool:
    """Someone who may use the analyst pages: an analyst, or an ML admin (who can do all an analyst can)."""
    return is_ml_admin(user) or ANALYST in role_names(user)


def is_integration(user: Any) -> bool:
    return INTEGRATION in role_names(user)


class IsMlAdmin(BasePermission):
    """DRF permission: only ML admins (or superusers) may go on."""

    message = "Only ML admins may do this: ask an administrator to add your account to the ml_admin group."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return is_ml_admin(request.user)


def page_role_required(check: Callable[[Any], bool], refusal: str) -> Callable[[ViewT], ViewT]:
    """A page for the users ``check`` lets through: the signed out go to the login page, anyone else
    gets a 403 page that says ``refusal`` (what they lack and whom to ask)."""

    def decorate(view: ViewT) -> ViewT:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not check(request.user):
                raise PermissionDenied(refusal)
            return view(request, *args, **kwargs)

        return login_required(wrapper)  # type: ignore[return-value]

    return decorate


# The dashboard and the prediction form are the analysts' (and ML admins'); an integration's account
# uses the API, and an account with no role sees nothing until an administrator gives it one.
analyst_page = page_role_required(
    is_analyst,
    "This page is for analysts and ML admins. Ask an administrator to add your account to the analyst group.",
)
