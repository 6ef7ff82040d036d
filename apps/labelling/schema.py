"""OpenAPI annotations of the labelling API, for the platform's schema (drf-spectacular).

The API works the same without drf-spectacular: then these annotations do nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import (
        OpenApiExample,
        OpenApiParameter,
        OpenApiResponse,
        extend_schema,
        extend_schema_field,
        extend_schema_view,
    )
except ImportError:  # pragma: no cover - exercised only where drf-spectacular is not installed

    def _unchanged(*args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        return lambda target: target

    class _Anything:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def __getattr__(self, name: str) -> None:
            return None

    extend_schema = extend_schema_field = extend_schema_view = _unchanged
    OpenApiExample = OpenApiParameter = OpenApiResponse = _Anything  # type: ignore[assignment,misc]
    OpenApiTypes = _Anything()  # type: ignore[assignment,misc]

QUEUE_PARAMETER = OpenApiParameter(
    "queue", OpenApiTypes.INT, required=False, description="Only the labels given in this queue (its id)."
)
LABEL_SCHEMA = {"type": "string", "enum": ["negative", "positive"]}

__all__ = [
    "LABEL_SCHEMA",
    "OpenApiExample",
    "OpenApiResponse",
    "OpenApiTypes",
    "QUEUE_PARAMETER",
    "extend_schema",
    "extend_schema_field",
    "extend_schema_view",
]
