"""Idempotency keys: a retried POST with the same ``Idempotency-Key`` is answered, not done twice.

A client that lost the answer to "start a training run" (a timeout, a dropped connection) sends the
same request again with the same key and gets the first answer back, with ``Idempotent-Replayed: true``;
no second run is queued. Keys are per user and remembered for ``IDEMPOTENCY_KEY_TTL_HOURS``. The same key
with another body or on another endpoint is refused (422), so a reused key never hides a different
request. Only successful answers are remembered: a request that failed can be corrected and sent again
with the same key.

Two copies of a request that arrive at once are serialised by the database: the first inserts the key
and does the work inside one transaction; the second's insert waits for that transaction and then finds
the answer to replay.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import ApiError
from apps.api.models import IdempotencyRecord
from apps.common.roles import signed_in

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_KEY_RE = re.compile(KEY_PATTERN)

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    pattern=KEY_PATTERN,
    description=(
        "A key you choose (a UUID, say) that makes retrying this request safe: the same request with the same "
        "key within 24 hours gets the first answer again (with `Idempotent-Replayed: true`) instead of being "
        "done twice. The same key with a different body gets 422."
    ),
)
REPLAYED_RESPONSE_HEADER = OpenApiParameter(
    REPLAYED_HEADER,
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    response=[200, 201, 202],
    enum=["true"],
    description="Present when this answer is a replay of an earlier request with the same Idempotency-Key.",
)


def idempotent(method: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate an API view's ``post``: with an Idempotency-Key header its answer is remembered and replayed."""

    @functools.wraps(method)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return method(view, request, *args, **kwargs)
        if not _KEY_RE.match(key):
            raise ValidationError(
                {HEADER: "An Idempotency-Key is 1 to 255 visible ASCII characters (no spaces); a UUID works well."}
            )
        fingerprint = request_fingerprint(request)
        user = signed_in(request)
        cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
        IdempotencyRecord.objects.filter(user=user, created_at__lt=cutoff).delete()
        earlier = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if earlier is not None:
            return _replay(earlier, fingerprint)
        try:
            with transaction.atomic():
                try:
                    with transaction.atomic():
                        record = IdempotencyRecord.objects.create(user=user, key=key, fingerprint=fingerprint)
                except IntegrityError:
                    # The same key committed meanwhile (the insert waited for it): answer with its result.
                    record = None
                if record is None:
                    raise _AlreadyAnswered
                response = method(view, request, *args, **kwargs)
                if not status.is_success(response.status_code):
                    raise _NotRemembered(response)
                record.status_code = response.status_code
                record.body = response.data
                record.location = response.get("Location", "")
                record.save(update_fields=["status_code", "body", "location"])
                return response
        except _NotRemembered as outcome:
            return outcome.response
        except _AlreadyAnswered:
            return _replay(IdempotencyRecord.objects.get(user=user, key=key), fingerprint)

    wrapper.idempotent = True  # type: ignore[attr-defined]
    return wrapper


def request_fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            f"The Idempotency-Key {record.key!r} was used for a different request (another endpoint or body) in the "
            f"last {settings.IDEMPOTENCY_KEY_TTL_HOURS} hours. Use a new key for a new request.",
        )
    headers = {REPLAYED_HEADER: "true"}
    if record.location:
        headers["Location"] = record.location
    return Response(record.body, status=record.status_code, headers=headers)


class _AlreadyAnswered(Exception):
    pass


class _NotRemembered(Exception):
    """A failed answer: the transaction (and the key with it) is rolled back, and the answer returned."""

    def __init__(self, response: Response) -> None:
        self.response = response
