"""ETags for every successful GET under /api/, and 304 Not Modified while a polling client's copy is current."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers, set_response_etag

API_PREFIX = "/api/"


class ApiConditionalGetMiddleware:
    """A client that polls a run sends back the last ``ETag`` as ``If-None-Match`` and gets a bodiless 304
    until something changed. The ETag is a hash of the body, so it changes exactly when the answer does;
    the answer is still computed, but not sent again. Streamed answers (exports) are left alone.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if (
            request.method not in ("GET", "HEAD")
            or not request.path.startswith(API_PREFIX)
            or response.status_code != 200
            or response.streaming
            or not isinstance(response, HttpResponse)
        ):
            return response
        if not response.has_header("ETag"):
            set_response_etag(response)
        # Answers depend on who asks: shared caches must not serve one user's answer to another.
        patch_cache_control(response, private=True, no_cache=True)
        patch_vary_headers(response, ["Authorization", "Cookie"])
        conditional = get_conditional_response(request, etag=response["ETag"], response=response)
        assert conditional is not None  # given a response, it answers with that one or a 304/412
        return conditional
