"""The OpenAPI schema and its two readers, Swagger UI and ReDoc, served from installed packages (no CDN).

The schema needs a signed-in user (session or token) unless API_DOCS_PUBLIC is on; the HTML pages send
a signed-out browser to the login page and back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated, OperandHolder, SingleOperandHolder
from rest_framework.request import Request


def _docs_permissions() -> list[BasePermission]:
    return [AllowAny()] if settings.API_DOCS_PUBLIC else [IsAuthenticated()]


class SchemaView(SpectacularJSONAPIView):
    """The OpenAPI 3 schema of the whole API, as JSON."""

    def get_permissions(self) -> list[BasePermission]:
        return _docs_permissions()


class _SignInFirst:
    permission_classes: Sequence[type[BasePermission] | OperandHolder | SingleOperandHolder] = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        if not settings.API_DOCS_PUBLIC and not getattr(request.user, "is_authenticated", False):
            return redirect_to_login(request.get_full_path())
        return super().get(request, *args, **kwargs)  # type: ignore[misc]


class SwaggerView(_SignInFirst, SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script served as a file of its own (``?script``): the CSP allows no inline script."""

    url_name = "api:schema"


class RedocView(_SignInFirst, SpectacularRedocView):
    url_name = "api:schema"
    template_name = "api/redoc.html"


__all__ = ["RedocView", "SchemaView", "SwaggerView"]
