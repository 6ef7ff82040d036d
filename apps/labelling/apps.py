from __future__ import annotations

from django.apps import AppConfig


class LabellingConfig(AppConfig):
    name = "apps.labelling"
    label = "labelling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # New reviews enter the growing queues (receivers).
        from apps.labelling import receivers  # noqa: F401
