"""What ``OPTIONS`` answers on any endpoint: its name, description and formats, not a form description.

DRF's default also describes the POST/PUT body by instantiating the view's serializer, which the API's
views choose per request (no ``serializer_class``): that raised and answered 500. The OpenAPI schema at
``/api/schema/`` describes every body instead.
"""

from __future__ import annotations

from typing import Any

from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request


class ApiMetadata(SimpleMetadata):
    def determine_metadata(self, request: Request, view: Any) -> dict[str, Any]:
        return {**super().determine_metadata(request, view), "schema": "/api/schema/"}

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        return {}
