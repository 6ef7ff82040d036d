from __future__ import annotations

from django.db import models


class WebhookEvent(models.TextChoices):
    TRAINING_RUN_FINISHED = "training_run.finished", "A training run finished (succeeded, failed or cancelled)"
    EVALUATION_RUN_FINISHED = "evaluation_run.finished", "An evaluation run finished"
    MODEL_VERSION_PROMOTED = "model_version.promoted", "A model version became current (promotion or rollback)"
    IMPORT_FINISHED = "import.finished", "An import of reviews finished"
    CYCLE_FINISHED = "cycle.finished", "A retraining cycle finished (promoted or not, failed or cancelled)"
    PING = "ping", "A test delivery sent on request"


SUBSCRIBABLE_EVENTS = [event for event in WebhookEvent.values if event != WebhookEvent.PING]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending (queued or waiting to retry)"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed after every attempt"
