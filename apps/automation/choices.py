from __future__ import annotations

from django.db import models


class CycleTrigger(models.TextChoices):
    LABELS = "labels", "Enough new resolved labels"
    SCHEDULE = "schedule", "The policy's schedule"
    MANUAL = "manual", "Started by hand"


class CycleStage(models.TextChoices):
    WAITING = "waiting", "Waiting for a worker"
    SNAPSHOT = "snapshot", "Taking the snapshot"
    TRAINING = "training", "Training the candidate"
    EVALUATING = "evaluating", "Scoring both models on the benchmark"
    DECIDING = "deciding", "Deciding on promotion"
    DONE = "done", "Done"


class ComparisonMetric(models.TextChoices):
    ACCURACY = "accuracy", "Accuracy"
    F1 = "f1", "F1 (positive class)"
    F1_MACRO = "f1_macro", "Macro F1"
