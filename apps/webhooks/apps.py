from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Runs, evaluations, imports and promotions announce themselves to subscribers when they end.
        from apps.webhooks import signals  # noqa: F401
