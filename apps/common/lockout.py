"""What someone locked out of signing in sees (django-axes calls ``lockout_response``).

Every door (the login page, the admin's, and ``POST /api/auth/token/``) answers 429 with
``Retry-After``: the API in its error envelope, the pages with a page that says how long to wait.
"""

from __future__ import annotations

from typing import Any

from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from apps.common.envelope import error_body

LOCKED_OUT_STATUS = 429


def lockout_response(request: HttpRequest, original_response: HttpResponse | None, credentials: Any) -> HttpResponse:
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 0
    minutes = max(1, -(-seconds // 60))
    message = (
        f"Too many failed sign-ins from this address or for this account. Try again in {minutes} minute"
        f"{'s' if minutes != 1 else ''}, or ask an administrator to unlock it."
    )
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(error_body("locked_out", message), status=LOCKED_OUT_STATUS)
    else:
        page = render_to_string("registration/locked_out.html", {"message": message}, request=request)
        response = HttpResponse(page, status=LOCKED_OUT_STATUS)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response
