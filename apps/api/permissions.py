"""What each role may do through the API, as capabilities an endpoint asks for per HTTP method.

- **analyst**: read data, runs and models; label; predict.
- **ml_admin** (and superusers): everything, including imports, snapshots, runs, evaluations, promotion,
  batch prediction, deleting reviews and managing webhooks.
- **integration**: predict, create reviews, read runs and models.

Each endpoint names the capability of each method in ``required`` (``{"GET": READ_DATA, "POST": MANAGE}``);
a method it does not name needs only a signed-in user (``SIGNED_IN``: one's own API tokens).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rest_framework.permissions import BasePermission

from apps.common.roles import ANALYST, INTEGRATION, ML_ADMIN, is_ml_admin, role_names

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class Capability(StrEnum):
    SIGNED_IN = "signed_in"
    READ_DATA = "read_data"
    READ_MODELS = "read_models"
    PREDICT = "predict"
    LABEL = "label"
    CREATE_REVIEWS = "create_reviews"
    MANAGE = "manage"


SIGNED_IN = Capability.SIGNED_IN
READ_DATA = Capability.READ_DATA
READ_MODELS = Capability.READ_MODELS
PREDICT = Capability.PREDICT
LABEL = Capability.LABEL
CREATE_REVIEWS = Capability.CREATE_REVIEWS
MANAGE = Capability.MANAGE

ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    ANALYST: frozenset({SIGNED_IN, READ_DATA, READ_MODELS, PREDICT, LABEL}),
    ML_ADMIN: frozenset(Capability),
    INTEGRATION: frozenset({SIGNED_IN, READ_MODELS, PREDICT, CREATE_REVIEWS}),
}

# Which roles hold a capability, in words, for messages and the API docs.
HOLDERS: dict[Capability, str] = {
    SIGNED_IN: "signed-in users",
    READ_DATA: "analysts and ML admins",
    READ_MODELS: "analysts, ML admins and integrations",
    PREDICT: "analysts, ML admins and integrations",
    LABEL: "analysts and ML admins",
    CREATE_REVIEWS: "ML admins and integrations",
    MANAGE: "ML admins",
}
# The group to ask for, per capability: the least powerful role that holds it.
GROUP_TO_ASK_FOR: dict[Capability, str] = {
    SIGNED_IN: ANALYST,
    READ_DATA: ANALYST,
    READ_MODELS: ANALYST,
    PREDICT: ANALYST,
    LABEL: ANALYST,
    CREATE_REVIEWS: INTEGRATION,
    MANAGE: ML_ADMIN,
}


def capabilities(user: Any) -> frozenset[Capability]:
    """Everything ``user`` may do through the API (nothing for an anonymous or inactive user)."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return frozenset()
    if is_ml_admin(user):
        return ROLE_CAPABILITIES[ML_ADMIN]
    held: set[Capability] = {SIGNED_IN}
    for role in role_names(user):
        held |= ROLE_CAPABILITIES[role]
    return frozenset(held)


def can(user: Any, capability: Capability) -> bool:
    return capability in capabilities(user)


def required_capability(view: Any, method: str) -> Capability:
    required: dict[str, Capability] = getattr(view, "required", {})
    if method == "HEAD":
        method = "GET"
    return required.get(method, SIGNED_IN)


class HasCapability(BasePermission):
    """Lets a request on when the user's roles hold the capability the view asks of its method."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        wanted = required_capability(view, request.method or "GET")
        if can(request.user, wanted):
            return True
        roles = sorted(role_names(request.user))
        held = f"your roles: {', '.join(roles)}" if roles else "your account has no role"
        self.message = (
            f"Only {HOLDERS[wanted]} may do this ({held}): ask an administrator to add your account to the "
            f"{GROUP_TO_ASK_FOR[wanted]} group."
        )
        return False
