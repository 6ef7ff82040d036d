from __future__ import annotations

from django.db import models


class PredictionSource(models.TextChoices):
    FORM = "form", "Prediction form"
    API = "api", "API"
    BATCH = "batch", "Batch job"
