"""Batch prediction jobs: predict a pool of reviews with one model version on a worker.

A job is a state machine (``apps.common.models.Job``). Creating one validates the pool's arguments and
queues the job when the transaction commits: on ``gpu`` for transformer versions, ``default`` for the
TF-IDF baseline. The worker claims the row under a lock, fixes the set of review ids at the start (so
reviews imported or labelled while it runs do not move the goalposts), predicts them in id order in
chunks, and stores each chunk's ``Prediction`` rows together with the job's progress in one commit.
Between chunks it honours a cancellation; the predictions of the chunks already done stay, and
``processed`` says how many reviews they cover.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.common.choices import JobStatus
from apps.labelling.choices import QueuePool
from apps.predictions.choices import PredictionSource
from apps.predictions.models import BatchPredictionJob, Prediction
from apps.registry.services import model_version_artifact_dir
from apps.reviews.choices import Split
from apps.reviews.models import Review
from apps.training.execution import append_log, claim_queued, heartbeat, record_stop, request_cancel
from apps.training.services import QUEUE_BY_KIND

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from apps.registry.models import ModelVersion
    from apps.reviews.models import DatasetSnapshot, ImportJob

logger = logging.getLogger(__name__)

# Reviews per chunk: progress and cancellation are checked between chunks, and each chunk commits.
CHUNK_SIZE = 512
# Reviews per forward pass of a transformer (the TF-IDF model takes a whole chunk at once).
PREDICT_BATCH_SIZE = 32


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
    created_by: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> BatchPredictionJob:
    """Create a queued batch job and send it to a worker when the transaction commits.

    ``pool`` is a ``QueuePool``: ``unlabelled`` (reviews with no gold label), ``snapshot_split`` (needs
    ``snapshot`` and ``split``), ``import`` (needs ``import_job``) or ``all``. Raises ``BatchJobError``
    with a message per bad field. ``enqueue=False`` leaves the job for the caller to execute in-process
    (``manage.py predict_batch --now``).
    """
    errors = batch_prediction_job_errors(
        model_version=model_version, pool=pool, snapshot=snapshot, split=split, import_job=import_job
    )
    if errors:
        raise BatchJobError(errors)
    job = BatchPredictionJob.objects.create(
        model_version=model_version,
        pool=pool,
        snapshot=snapshot,
        split=split,
        import_job=import_job,
        created_by=created_by,
        celery_task_id=str(uuid.uuid4()) if enqueue else "",
    )
    if enqueue:
        _enqueue(job.pk, queue=queue_for(model_version), task_id=job.celery_task_id)
    return job


def batch_prediction_job_cancel(*, job: BatchPredictionJob, by: AbstractBaseUser | None = None) -> BatchPredictionJob:
    """Cancel a job: a queued one at once, a running one after the chunk it is predicting.

    Raises ``IllegalTransition`` for a job that has already finished.
    """
    return request_cancel(BatchPredictionJob, job.pk, by=by)


def batch_prediction_job_execute(*, job_id: int, worker: str | None = None) -> BatchPredictionJob | None:
    """Predict the reviews of queued job ``job_id`` and record the outcome; None if the job was not queued.

    Never raises for a failed job: the failure (a model whose files fail their checksums, say) is
    recorded on the row. Re-raises only what is not an ``Exception`` (the process being told to stop).
    """
    job = claim_queued(BatchPredictionJob, job_id, worker=worker)
    if job is None:
        return None
    try:
        with heartbeat(BatchPredictionJob, job.pk):
            processed = _predict_pool(job)
            _reorder_labelling_queues(job)
        return _succeeded(job.pk, processed)
    except BaseException as error:
        cancelled = isinstance(error, (_BatchCancelled, KeyboardInterrupt))
        record_stop(BatchPredictionJob, job.pk, error, cancelled=cancelled)
        if not isinstance(error, Exception):
            raise
        return BatchPredictionJob.objects.get(pk=job.pk)


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
    """Transformers predict on GPU workers, like they train; the TF-IDF baseline on any worker."""
    return QUEUE_BY_KIND.get(model_version.kind, "default")


class _BatchCancelled(Exception):
    """Someone cancelled the job (or it was reaped) while it ran."""


def _predict_pool(job: BatchPredictionJob) -> int:
    """Predict every review of the job's pool, chunk by chunk; returns how many reviews were handled."""
    from workers.ml.predictor import load_model

    version = job.model_version
    review_ids = list(pool_reviews(job).order_by("id").values_list("id", flat=True))
    BatchPredictionJob.objects.filter(pk=job.pk).update(total=len(review_ids), processed=0)
    append_log(BatchPredictionJob, job.pk, f"Loading model version {version.pk} ({version.kind}).\n")
    # Int8 on a CPU as the web predictor serves it (PREDICTION_QUANTIZE), so a review gets the same answer
    # from a batch job as from the form.
    model = load_model(model_version_artifact_dir(version=version), quantize=settings.PREDICTION_QUANTIZE)
    append_log(
        BatchPredictionJob,
        job.pk,
        f"Predicting {len(review_ids)} reviews of pool {_describe_pool(job)} with model version {version.pk}.\n",
    )
    started = time.perf_counter()
    processed = missing = 0
    for start in range(0, len(review_ids), CHUNK_SIZE):
        if _stop_requested(job.pk):
            raise _BatchCancelled
        chunk_ids = review_ids[start : start + CHUNK_SIZE]
        texts = dict(Review.objects.filter(id__in=chunk_ids).values_list("id", "text"))
        # A review deleted since the job started is skipped, not predicted from nothing.
        present = [review_id for review_id in chunk_ids if review_id in texts]
        missing += len(chunk_ids) - len(present)
        results = model.predict([texts[review_id] for review_id in present], batch_size=PREDICT_BATCH_SIZE)
        processed += len(chunk_ids)
        _store_chunk(job, present, texts, results, processed=processed)
    seconds = time.perf_counter() - started
    skipped = f" {missing} reviews were deleted while it ran and were skipped." if missing else ""
    append_log(
        BatchPredictionJob,
        job.pk,
        f"Predicted {processed - missing} reviews in {seconds:.1f} s "
        f"({(processed - missing) / max(seconds, 1e-9):.1f} reviews/s).{skipped}\n",
    )
    return processed


def _store_chunk(
    job: BatchPredictionJob,
    review_ids: list[int],
    texts: dict[int, str],
    results: list[dict[str, Any]],
    *,
    processed: int,
) -> None:
    """The chunk's predictions and the job's progress in one commit, only while the job is still running."""
    now = timezone.now()
    with transaction.atomic():
        still_running = BatchPredictionJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            processed=processed, heartbeat_at=now, updated_at=now
        )
        if not still_running:
            raise _BatchCancelled
        Prediction.objects.bulk_create(
            Prediction(
                text=texts[review_id],
                review_id=review_id,
                model_version_id=job.model_version_id,
                label=result["label"],
                confidence=result["confidence"],
                prob_negative=result["probabilities"][0],
                prob_positive=result["probabilities"][1],
                source=PredictionSource.BATCH,
                user_id=job.created_by_id,
                batch_job_id=job.pk,
            )
            for review_id, result in zip(review_ids, results, strict=True)
        )


def _stop_requested(job_id: int) -> bool:
    stop = Q(cancel_requested=True) | ~Q(status=JobStatus.RUNNING)
    return BatchPredictionJob.objects.filter(stop, pk=job_id).exists()


def _reorder_labelling_queues(job: BatchPredictionJob) -> None:
    """New predictions of the current model re-rank the uncertainty and suspicious labelling queues."""
    from apps.labelling.services import queues_reorder_for_model

    version = job.model_version
    version.refresh_from_db(fields=["is_current"])
    started = time.perf_counter()
    try:
        queues = queues_reorder_for_model(model_version=version)
    except Exception as error:  # the predictions are stored: a queue can still be reordered by hand
        logger.exception("Reordering labelling queues after batch job %s failed", job.pk)
        append_log(BatchPredictionJob, job.pk, f"Could not reorder the labelling queues: {error}. Reorder them by hand.\n")
        return
    if queues:
        names = ", ".join(queue.name for queue in queues)
        append_log(
            BatchPredictionJob,
            job.pk,
            f"Reordered {len(queues)} labelling queue(s) with these predictions in "
            f"{time.perf_counter() - started:.1f} s: {names}.\n",
        )


def _succeeded(job_id: int, processed: int) -> BatchPredictionJob:
    with transaction.atomic():
        job = BatchPredictionJob.objects.select_for_update().get(pk=job_id)
        if job.status != JobStatus.RUNNING:
            return job
        job.processed = processed
        job.append_log(f"Succeeded: {job.predictions.count()} predictions stored.\n")
        job.mark_succeeded()
    return job


def _describe_pool(job: BatchPredictionJob) -> str:
    if job.pool == QueuePool.SNAPSHOT_SPLIT:
        return f"{job.pool} (snapshot {job.snapshot_id}, {job.split})"
    if job.pool == QueuePool.IMPORT:
        return f"{job.pool} (import {job.import_job_id})"
    return job.pool


def _enqueue(job_id: int, *, queue: str, task_id: str) -> None:
    # Imported here: the task module imports this one.
    from workers.tasks.predictions import run_batch_prediction

    transaction.on_commit(lambda: run_batch_prediction.apply_async(args=[job_id], queue=queue, task_id=task_id))
