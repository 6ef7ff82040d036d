"""The one error body of the REST API, and the exception handler that writes it.

Every failure answers ``{"error": {"code": ..., "message": ..., "fields": {...}}}``: ``code`` is a stable
word a program can branch on (``invalid``, ``not_authenticated``, ``permission_denied``, ``not_found``,
``throttled``, ``conflict``...), ``message`` a sentence for a person, ``fields`` one message per input
that was wrong (``"texts[2]"``, ``"reviews[0].text"``; ``"body"`` for the request as a whole). Headers
DRF sets on errors (``WWW-Authenticate``, ``Retry-After``) are kept.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError, connections
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.common.broker import RETRY_AFTER_SECONDS
from apps.common.envelope import error_body
from apps.common.outages import outage_of

logger = logging.getLogger("apps.api")

PARSE_ERROR_MESSAGE = "The request body is not valid JSON in UTF-8: check quotes, commas and the text's encoding."


class ApiError(exceptions.APIException):
    """An error with its own status and code: ``raise ApiError(409, "conflict", "Run 3 has already finished.")``."""

    def __init__(self, http_status: int, code: str, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = http_status
        self.code = code
        self.fields = dict(fields or {})


def conflict(message: str, *, code: str = "conflict") -> ApiError:
    """409: the request is well-formed but the resource's state does not allow it now."""
    return ApiError(status.HTTP_409_CONFLICT, code, message)


def invalid(fields: dict[str, str]) -> exceptions.ValidationError:
    """400 with one message per field, from a service's ``errors`` dict."""
    return exceptions.ValidationError({name: [message] for name, message in fields.items()})


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler with its body rewritten into the error envelope; unexpected errors become a logged 500."""
    exc = _client_error(exc)
    if isinstance(exc, exceptions.ParseError):
        exc.detail = exceptions.ErrorDetail(PARSE_ERROR_MESSAGE, code="parse_error")
    response = drf_exception_handler(exc, context)
    if response is None:
        outage = outage_of(exc)
        if outage is not None:
            logger.warning("An API request answered 503: %s (%s)", outage[0], exc)
            _roll_back()
            return Response(error_body(*outage), status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        if settings.DEBUG:
            return None  # Django's debug page, with the traceback
        view = context.get("view")
        logger.error("Unhandled error in %s", type(view).__name__ if view else "an API view", exc_info=exc)
        _roll_back()
        return Response(
            error_body("server_error", "Something went wrong on our side; it has been logged. Try again later."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, ApiError):
        code, message, fields = exc.code, str(exc.detail), exc.fields
    elif isinstance(exc, exceptions.ValidationError):
        fields = flat_fields(exc.detail)
        code, message = "invalid", validation_message(fields)
    else:
        detail = getattr(exc, "detail", "")
        message = str(detail)
        code = str(getattr(detail, "code", None) or getattr(exc, "default_code", "error"))
        fields = {}
    # A message may quote the request (an unknown field's name): a lone surrogate there ("\\ud800", which JSON
    # carries but UTF-8 cannot) would make the error itself a server error, so it is written escaped.
    fields = {_utf8(name): _utf8(text) for name, text in fields.items()}
    response.data = error_body(str(code), _utf8(message), fields)
    return response


def _utf8(text: Any) -> str:
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


def _client_error(exc: Exception) -> Exception:
    """The request's fault, not the server's: the 4xx for errors that Django, json or the database raise."""
    if isinstance(exc, RequestDataTooBig):
        limit = int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return ApiError(
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            "too_large",
            f"The request body is larger than {_size(limit)} (DATA_UPLOAD_MAX_MEMORY_SIZE): send fewer reviews at "
            "once, or upload a file to /api/imports/.",
        )
    if isinstance(exc, RecursionError):
        # json.loads gives up on a body nested past Python's recursion limit.
        return exceptions.ParseError()
    if isinstance(exc, DataError) and "NUL" in str(exc):
        # PostgreSQL cannot store or compare text holding \x00; the value came from the request.
        return ApiError(
            status.HTTP_400_BAD_REQUEST,
            "invalid",
            "Null characters are not allowed: a value in the request holds a NUL (\\x00); remove it and try again.",
        )
    return exc


def _size(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB" if count >= 1_000_000 else f"{count / 1_000:.1f} KB"


def validation_message(fields: dict[str, str]) -> str:
    """All the field messages in one sentence, each after its field's name (the whole body's without one)."""
    parts = [text if name == "body" else f"{name}: {text}" for name, text in fields.items()]
    return " ".join(parts) or "The request is not valid."


def flat_fields(detail: Any, prefix: str = "") -> dict[str, str]:
    """DRF's nested error lists as one message per field: ``texts[2]``, ``reviews[0].text``, ``body``."""
    if isinstance(detail, dict):
        fields: dict[str, str] = {}
        for key, value in detail.items():
            name = "body" if key in ("non_field_errors", "detail") and not prefix else str(key)
            if key == "non_field_errors" and prefix:
                place = prefix
            elif prefix and str(key).isdigit():
                place = f"{prefix}[{name}]"
            else:
                place = f"{prefix}.{name}" if prefix else name
            fields.update(flat_fields(value, place))
        return fields
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {prefix or "body": " ".join(str(item) for item in detail)} if detail else {}
        fields = {}
        for index, item in enumerate(detail):
            # A list of per-item errors (a ListField or many=True): empty dicts are the items without errors.
            if isinstance(item, dict) and not item:
                continue
            place = f"{prefix}[{index}]" if isinstance(item, dict) else prefix
            fields.update(flat_fields(item, place))
        return fields
    return {prefix or "body": str(detail)}


def not_found_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The site's 404 handler: under /api/, the error envelope rather than an HTML page."""
    if not request.path.startswith("/api/"):
        return page_not_found(request, exception or Http404())
    return JsonResponse(
        error_body("not_found", f"There is no API endpoint at {request.path}; the endpoints are listed at /api/docs/."),
        status=status.HTTP_404_NOT_FOUND,
    )


def _roll_back() -> None:
    """Roll back the request's transaction where requests run in one (ATOMIC_REQUESTS), as DRF does.

    Outside such a transaction an atomic block is someone else's (a caller's, or a test's), and each
    service already undoes its own writes when it raises.
    """
    for connection in connections.all(initialized_only=True):
        if connection.settings_dict.get("ATOMIC_REQUESTS") and connection.in_atomic_block:
            connection.set_rollback(True)
