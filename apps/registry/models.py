from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.training.choices import ModelKind


class ModelVersion(models.Model):
    """A trained model on disk (its artifact folder) and what it was trained on."""

    training_run = models.OneToOneField(
        "training.TrainingRun", null=True, blank=True, on_delete=models.PROTECT, related_name="model_version"
    )
    kind = models.CharField(max_length=16, choices=ModelKind.choices)
    base_model = models.CharField(max_length=500, blank=True)
    snapshot = models.ForeignKey("reviews.DatasetSnapshot", null=True, blank=True, on_delete=models.PROTECT)
    artifact_path = models.CharField(max_length=1024, help_text="Folder under ARTIFACT_ROOT.")
    artifact_size = models.PositiveBigIntegerField(default=0)
    manifest = models.JSONField(default=dict)
    test_accuracy = models.FloatField(null=True, blank=True)
    test_f1 = models.FloatField(null=True, blank=True)
    is_current = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # "Exactly one current" is held by the database, not by convention.
            models.UniqueConstraint(fields=["is_current"], condition=Q(is_current=True), name="model_version_one_current"),
        ]

    def __str__(self) -> str:
        return f"v{self.pk} ({self.kind})"


class Promotion(models.Model):
    """One change of the current version: a promotion or a rollback."""

    class Action(models.TextChoices):
        PROMOTE = "promote", "Promote"
        ROLLBACK = "rollback", "Roll back"

    action = models.CharField(max_length=16, choices=Action.choices, default=Action.PROMOTE)
    from_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="promotions_from"
    )
    to_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="promotions_to")
    promoted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField(blank=True)
    forced = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
