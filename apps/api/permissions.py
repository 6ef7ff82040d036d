"""What each role may do through the API, as capabilities an endpoint asks for per HTTP method.

- **analyst**: read data, runs and models; label; predict.
- **ml_admin** (and superusers): everything, including imports, snapshots, runs, evaluations, promotion,
  batch prediction, deleting reviews and managing webhooks.
- **integration**: predict, create reviews, read runs and models.

Each endpoint names the capability of each method in ``required`` (``{"GET": READ_DATA, "POST": MANAGE}``);
a method it does not name needs only a signed-in user (``SIGNED_IN``: one's own API tokens).

A view outside apps.api's ``ApiView`` (which says in its own words who may call it) asks instead with a
permission made by ``requiring``: one capability for every method but those named, and, where the view
words its refusals its own way, the message per capability.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

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

    # Set by ``requiring``: the capability of every method not in ``by_method``, instead of the view's ``required``.
    default: ClassVar[Capability | None] = None
    by_method: ClassVar[dict[str, Capability]] = {}
    # Set by ``requiring``: a view's own refusal message per capability, instead of the one below.
    refusals: ClassVar[dict[Capability, str]] = {}

    def wanted(self, view: APIView, method: str) -> Capability:
        if self.default is None:
            return required_capability(view, method)
        if method == "HEAD":
            method = "GET"
        return self.by_method.get(method, self.default)

    def has_permission(self, request: Request, view: APIView) -> bool:
        wanted = self.wanted(view, request.method or "GET")
        if can(request.user, wanted):
            return True
        if wanted in self.refusals:
            self.message = self.refusals[wanted]
            return False
        roles = sorted(role_names(request.user))
        held = f"your roles: {', '.join(roles)}" if roles else "your account has no role"
        self.message = (
            f"Only {HOLDERS[wanted]} may do this ({held}): ask an administrator to add your account to the "
            f"{GROUP_TO_ASK_FOR[wanted]} group."
        )
        return False


def requiring(
    default: Capability, *, refusals: dict[Capability, str] | None = None, **by_method: Capability
) -> type[HasCapability]:
    """A permission asking ``default`` of every method except those named (``POST=MANAGE``), refusing with
    ``refusals``' message for a capability where it has one."""
    attributes = {"default": default, "by_method": dict(by_method), "refusals": dict(refusals or {})}
    return type(f"Requiring{default.name.title().replace('_', '')}", (HasCapability,), attributes)
