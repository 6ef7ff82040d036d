"""Batch prediction jobs: predict a pool of reviews with one model version, on any number of workers.

A job is a kind of job (``apps.common.jobs``). Creating one validates the pool's arguments and queues
it: on ``gpu`` for transformer versions, ``default`` for the TF-IDF baseline. The worker that claims it
cuts the pool into ``BatchChunk`` rows (id ranges, the ids streamed), asks other workers on the queue to
join, and works chunks itself; every worker claims chunks with ``FOR UPDATE SKIP LOCKED`` and commits a
chunk's predictions with the chunk marked done, so predictions are exactly the pool, never twice, and a
worker that dies loses only its chunk (taken again once its heartbeat is stale). Rows in the database
rather than Celery's group/chord: a chord's header dies with a lost message and its counter with Redis,
while rows can be re-claimed, counted for progress, cancelled and resumed by a redelivered message.
Between chunks each worker honours a cancellation; the chunks already done stay, and ``processed``
says how many reviews they cover.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from apps.common.jobs import JobRunner
from apps.common.labels import QueuePool
from apps.predictions.models import BatchPredictionJob
from apps.registry.selectors import model_version_queue
from apps.reviews.choices import Split
from apps.reviews.models import Review

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from apps.registry.models import ModelVersion
    from apps.reviews.models import DatasetSnapshot, ImportJob

class BatchJobError(ValueError):
    """A batch job cannot be created as asked; ``errors`` holds one message per field that was wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(f"{field}: {message}" for field, message in self.errors.items()))


def batch_prediction_job_errors(
    *,
    model_version: ModelVersion | None,
    pool: str,
    snapshot: DatasetSnapshot | None = None,
    split: str = "",
    import_job: ImportJob | None = None,
) -> dict[str, str]:
    """One message per bad field of a would-be batch job (empty when it can be created)."""
    errors: dict[str, str] = {}
    if model_version is None:
        errors["model_version"] = "Choose the model version to predict with."
    if pool not in QueuePool.values:
        errors["pool"] = f"Unknown pool {pool!r}: choose one of {', '.join(QueuePool.values)}."
        return errors
    if pool == QueuePool.SNAPSHOT_SPLIT:
        if snapshot is None:
            errors["snapshot"] = "Choose the snapshot whose split to predict."
        if split not in Split.values:
            errors["split"] = f"Choose the split to predict: one of {', '.join(Split.values)} (got {split!r})."
    else:
        if snapshot is not None:
            errors["snapshot"] = (
                f"A snapshot applies only to the {QueuePool.SNAPSHOT_SPLIT} pool; leave it empty or choose that pool."
            )
        if split:
            errors["split"] = (
                f"A split applies only to the {QueuePool.SNAPSHOT_SPLIT} pool; leave it empty or choose that pool."
            )
    if pool == QueuePool.IMPORT and import_job is None:
        errors["import_job"] = "Choose the import whose reviews to predict."
    elif pool != QueuePool.IMPORT and import_job is not None:
        errors["import_job"] = (
            f"An import applies only to the {QueuePool.IMPORT} pool; leave it empty or choose that pool."
        )
    return errors


def batch_prediction_job_create(
    *,
    model_version: ModelVersion,
    pool: str,
    snapshot: DatasetSnapshot | None = None,
    split: str = "",
    import_job: ImportJob | None = None,
    created_by: User | None = None,
    enqueue: bool = True,
) -> BatchPredictionJob:
    """Create a queued batch job and send it to a worker when the transaction commits.

    ``pool`` is a ``QueuePool``: ``unlabelled`` (reviews with no gold label), ``snapshot_split`` (needs
    ``snapshot`` and ``split``), ``import`` (needs ``import_job``) or ``all``. Raises ``BatchJobError``
    with a message per bad field. ``enqueue=False`` leaves the job for the caller to execute in-process
    (``manage.py predict_batch --now``, with ``apps.predictions.runners.batch_prediction_job_execute``).
    """
    errors = batch_prediction_job_errors(
        model_version=model_version, pool=pool, snapshot=snapshot, split=split, import_job=import_job
    )
    if errors:
        raise BatchJobError(errors)
    return BatchPredictionJobKind.submit(
        enqueue=enqueue,
        model_version=model_version,
        pool=pool,
        snapshot=snapshot,
        split=split,
        import_job=import_job,
        created_by=created_by,
    )


def batch_prediction_job_cancel(*, job: BatchPredictionJob, by: User | None = None) -> BatchPredictionJob:
    """Cancel a job: a queued one at once, a running one after the chunk it is predicting.

    Raises ``IllegalTransition`` for a job that has already finished.
    """
    return BatchPredictionJobKind.cancel(job.pk, by=by)


class BatchPredictionJobKind(JobRunner[BatchPredictionJob]):
    """The kind of job as the web side sends and cancels it; its body is ``apps.predictions.runners.BatchPredictionRunner``."""

    model = BatchPredictionJob
    task_name = "predictions.run_batch_prediction"
    what = "batch prediction job"

    @classmethod
    def queue_for(cls, job: BatchPredictionJob) -> str:
        return queue_for(job.model_version)


def pool_reviews(job: BatchPredictionJob) -> QuerySet[Review]:
    """The reviews a job predicts, by its pool."""
    if job.pool == QueuePool.UNLABELLED:
        return Review.objects.filter(gold_label__isnull=True)
    if job.pool == QueuePool.SNAPSHOT_SPLIT:
        return Review.objects.filter(snapshot_items__snapshot_id=job.snapshot_id, snapshot_items__split=job.split)
    if job.pool == QueuePool.IMPORT:
        return Review.objects.filter(import_job_id=job.import_job_id)
    if job.pool == QueuePool.ALL:
        return Review.objects.all()
    raise ValueError(f"Batch job {job.pk} has an unknown pool {job.pool!r}.")


def queue_for(model_version: ModelVersion) -> str:
    """Transformers predict on GPU workers, like they train; the TF-IDF baseline on any worker; an ensemble where its members would."""
    return model_version_queue(model_version)
