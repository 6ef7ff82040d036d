"""Who may call the labelling API, its refusals, and the queue a request names among the caller's queues.

Analysts (and ML admins) work the queues they are listed on (``LABEL``); everything else is for ML admins
(``MANAGE``). The refusals keep the labelling API's own words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request

from apps.api.errors import ApiError
from apps.api.permissions import LABEL, MANAGE, Capability, requiring
from apps.common.roles import IsMlAdmin
from apps.labelling.models import LabellingQueue
from apps.labelling.selectors import queue_list
from apps.labelling.errors import LabellingRefused

if TYPE_CHECKING:
    from django.contrib.auth.models import User

REFUSALS: dict[Capability, str] = {
    LABEL: "Only analysts and ML admins may label: ask an administrator to add your account to the analyst group.",
    MANAGE: IsMlAdmin.message,
}
ANALYST: list[type[BasePermission]] = [IsAuthenticated, requiring(LABEL, refusals=REFUSALS)]
ML_ADMIN: list[type[BasePermission]] = [IsAuthenticated, requiring(MANAGE, refusals=REFUSALS)]


def refused(error: LabellingRefused) -> ApiError:
    """A labelling action the platform refuses, with the service's status (400, 403 or 409) and message."""
    return ApiError(error.http_status, error.code, error.message)


def caller(request: Request) -> User:
    """The signed-in user making the request (every labelling endpoint asks for one before it runs)."""
    return cast("User", request.user)


def queue_for(request: Request, pk: int) -> LabellingQueue:
    queue = queue_list(user=caller(request)).filter(pk=pk).first()
    if queue is None:
        raise NotFound(f"There is no queue {pk} among your queues.")
    return queue


def queue_param(request: Request) -> LabellingQueue | None:
    raw = request.query_params.get("queue")
    if raw in (None, ""):
        return None
    if not raw.isdigit():
        raise ValidationError({"queue": "queue is a queue's id, a whole number."})
    return queue_for(request, int(raw))
