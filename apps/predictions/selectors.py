"""Reads of stored predictions for pages."""

from __future__ import annotations

from apps.predictions.models import BatchPredictionJob, Prediction
from apps.reviews.models import DatasetSnapshot, ImportJob


def recent_predictions(*, limit: int = 10) -> list[Prediction]:
    """The latest predictions from any source, with the version that answered and who asked."""
    return list(
        Prediction.objects.select_related("model_version", "user", "review").order_by("-created_at", "-pk")[:limit]
    )


def predictions_of_review(*, review_id: int, limit: int = 100) -> list[Prediction]:
    """The stored predictions made on one review, newest first."""
    return list(
        Prediction.objects.filter(review_id=review_id)
        .select_related("model_version", "user", "batch_job")
        .defer("text", "batch_job__log_tail")
        .order_by("-created_at", "-pk")[:limit]
    )


def batch_job_latest_for_pool(
    *, pool: str, snapshot: DatasetSnapshot | None = None, split: str = "", import_job: ImportJob | None = None
) -> BatchPredictionJob | None:
    """The newest batch job over exactly this pool of reviews (a labelling queue's), with its model version."""
    return (
        BatchPredictionJob.objects.filter(pool=pool, snapshot=snapshot, split=split or "", import_job=import_job)
        .select_related("model_version")
        .order_by("-created_at", "-pk")
        .first()
    )
