from __future__ import annotations

from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    name = "apps.predictions"
    label = "predictions"
    default_auto_field = "django.db.models.BigAutoField"
