from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.common.models import Job
from apps.labelling.choices import QueuePool
from apps.predictions.choices import PredictionSource
from apps.reviews.choices import Label, Split


class BatchPredictionJob(Job):
    """Predict a set of reviews with one model version on a worker."""

    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="batch_jobs")
    pool = models.CharField(max_length=32, choices=QueuePool.choices, default=QueuePool.UNLABELLED)
    snapshot = models.ForeignKey("reviews.DatasetSnapshot", null=True, blank=True, on_delete=models.PROTECT)
    split = models.CharField(max_length=16, choices=Split.choices, blank=True)
    import_job = models.ForeignKey("reviews.ImportJob", null=True, blank=True, on_delete=models.PROTECT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        # Ids only, so a list of jobs in the admin reads no other row per job.
        pool = self.get_pool_display().lower()
        return f"Batch prediction {self.pk} of {pool} by model version {self.model_version_id}"


class Prediction(models.Model):
    text = models.TextField()
    review = models.ForeignKey("reviews.Review", null=True, blank=True, on_delete=models.SET_NULL, related_name="predictions")
    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="predictions")
    label = models.SmallIntegerField(choices=Label.choices)
    confidence = models.FloatField()
    prob_negative = models.FloatField()
    prob_positive = models.FloatField()
    source = models.CharField(max_length=8, choices=PredictionSource.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    batch_job = models.ForeignKey(
        BatchPredictionJob, null=True, blank=True, on_delete=models.CASCADE, related_name="predictions"
    )
    latency_ms = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["model_version", "review"], name="prediction_version_review_idx"),
            models.Index(fields=["model_version", "confidence"], name="prediction_uncertainty_idx"),
            models.Index(fields=["review", "-created_at"], name="prediction_review_latest_idx"),
            models.Index(fields=["source", "-created_at"], name="prediction_source_idx"),
        ]
