"""Refuse an upload that is too large from its Content-Length, before its body is read."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils.html import escape

from apps.common.envelope import error_body

# Room for the form's other fields and the multipart boundaries around the file.
FORM_OVERHEAD_BYTES = 64 * 1024


class UploadSizeLimitMiddleware:
    """A multipart request larger than IMPORT_MAX_UPLOAD_BYTES (plus a little form overhead) gets a 413
    that says the limit, without the server receiving and spooling the whole file first. The upload
    services still check each file's own size; this only saves reading what would be refused anyway.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.content_type == "multipart/form-data":
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            limit = int(settings.IMPORT_MAX_UPLOAD_BYTES)
            if length > limit + FORM_OVERHEAD_BYTES:
                return _too_large(request, length, limit)
        return self.get_response(request)


def _too_large(request: HttpRequest, length: int, limit: int) -> HttpResponse:
    message = (
        f"The upload is {_size(length)}; the largest upload is {_size(limit)} "
        "(IMPORT_MAX_UPLOAD_BYTES). Nothing was imported: split the file and upload the parts."
    )
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("too_large", message), status=413)
    return HttpResponse(
        f"<!doctype html><title>Upload too large</title><h1>Upload too large</h1><p>{escape(message)}</p>",
        status=413,
    )


def _size(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB" if count >= 1_000_000 else f"{count / 1_000:.0f} KB"
