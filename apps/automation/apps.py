from __future__ import annotations

from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "apps.automation"
    label = "automation"
    verbose_name = "Retraining automation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A cycle that ends announces itself to webhook subscribers (``cycle.finished``); a new resolution checks
        # the label triggers (receivers).
        from apps.automation import receivers, signals  # noqa: F401
