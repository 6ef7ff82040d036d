from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models

from apps.common.labels import QueuePool
from apps.common.models import Job
from apps.predictions.choices import PredictionSource
from apps.reviews.choices import Label, Split

if TYPE_CHECKING:
    from apps.registry.models import ModelVersion


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


class BatchChunk(models.Model):
    """A slice of a batch job's pool (its reviews with ids ``first_review_id``..``last_review_id``).

    Any worker on the job's queue claims the next pending chunk (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL), predicts it and stores its predictions in the same commit that marks it done, so a
    worker that dies loses only the chunk it held, which another worker takes again once its
    heartbeat is stale; ``attempts`` above 1 counts the redone ones.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    job = models.ForeignKey(BatchPredictionJob, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    first_review_id = models.BigIntegerField()
    last_review_id = models.BigIntegerField()
    size = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    worker = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="batch_chunk_unique_index")]
        indexes = [models.Index(fields=["job", "status", "index"], name="batch_chunk_claim_idx")]


class Prediction(models.Model):
    # Only for texts that are not stored reviews (the form's, the API's): a prediction of a review refers
    # to it instead of copying its text, which would double the size of a million-review batch job.
    text = models.TextField(blank=True)
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

    if TYPE_CHECKING:
        # Set by apps.predictions.services.prediction_create_many on the predictions it returns; not database fields.
        served_version: ModelVersion
        members: list[dict[str, Any]]

    @property
    def shown_text(self) -> str:
        """The text that was predicted: its own, or its review's (select_related("review") saves a query)."""
        if self.text:
            return self.text
        review = self.review  # None, with no query, when review_id is None
        return review.text if review is not None else self.text

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["model_version", "review"], name="prediction_version_review_idx"),
            models.Index(fields=["model_version", "confidence"], name="prediction_uncertainty_idx"),
            models.Index(fields=["review", "-created_at"], name="prediction_review_latest_idx"),
            models.Index(fields=["source", "-created_at"], name="prediction_source_idx"),
        ]
