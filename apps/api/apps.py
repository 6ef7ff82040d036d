from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    """What every REST endpoint shares: errors, roles, pagination, throttles, idempotency, ETags, the schema."""

    name = "apps.api"
    label = "api"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the OpenAPI description of token authentication with drf-spectacular.
        from apps.api import schema  # noqa: F401
