"""While the database or the broker is down: a 503 with ``Retry-After``, never a bare 500.

The API answers in its error envelope (``database_unavailable``, ``broker_unavailable``); pages get a
short page that says the platform is briefly unavailable. Nothing here touches the database, and
nothing needs a restart afterwards: Django closes a connection that failed at the end of its request,
and the next request opens a new one.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.template.loader import render_to_string
from django.views.defaults import server_error

from apps.common.broker import RETRY_AFTER_SECONDS, BrokerUnavailable
from apps.common.envelope import error_body

logger = logging.getLogger(__name__)

DATABASE_MESSAGE = (
    "The database is unreachable for the moment, so this request could not be answered; nothing was changed. "
    f"Try again in {RETRY_AFTER_SECONDS} s."
)


def outage_of(error: BaseException | None) -> tuple[str, str] | None:
    """(code, message) when ``error`` means the database or the broker is down, else None."""
    if isinstance(error, BrokerUnavailable):
        return "broker_unavailable", str(error)
    if isinstance(error, (OperationalError, InterfaceError)):
        return "database_unavailable", DATABASE_MESSAGE
    return None


def unavailable_response(request: HttpRequest, code: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(error_body(code, message), status=503)
    else:
        response = HttpResponse(
            render_to_string("503.html", {"message": message, "retry_after": RETRY_AFTER_SECONDS}), status=503
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class OutageMiddleware:
    """Turns an outage raised by a view into a 503 (errors in other middleware reach ``server_error_view``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        outage = outage_of(exception)
        if outage is None:
            return None
        logger.warning("%s %s answered 503: %s (%s)", request.method, request.path, outage[0], exception)
        return unavailable_response(request, *outage)


def server_error_view(request: HttpRequest) -> HttpResponse:
    """The site's 500 handler: a 503 when the error was an outage, the envelope under /api/, else Django's page."""
    outage = outage_of(sys.exc_info()[1])
    if outage is not None:
        return unavailable_response(request, *outage)
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body("server_error", "Something went wrong on our side; it has been logged. Try again later."),
            status=500,
        )
    return server_error(request)
