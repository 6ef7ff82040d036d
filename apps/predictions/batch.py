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
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.common.choices import JobStatus
from apps.labelling.choices import QueuePool
from apps.predictions.choices import PredictionSource
from apps.predictions.models import BatchPredictionJob, Prediction
from apps.registry.services import model_version_artifact_dir
from apps.reviews.choices import Split
from apps.reviews.models import Review
from apps.common.jobs import JobCancelled, JobRunner, append_log
from apps.training.runners import QUEUE_BY_KIND

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
    return BatchPredictionRunner.submit(
        enqueue=enqueue,
        model_version=model_version,
        pool=pool,
        snapshot=snapshot,
        split=split,
        import_job=import_job,
        created_by=created_by,
    )


def batch_prediction_job_cancel(*, job: BatchPredictionJob, by: AbstractBaseUser | None = None) -> BatchPredictionJob:
    """Cancel a job: a queued one at once, a running one after the chunk it is predicting.

    Raises ``IllegalTransition`` for a job that has already finished.
    """
    return BatchPredictionRunner.cancel(job.pk, by=by)


def batch_prediction_job_execute(*, job_id: int, worker: str | None = None) -> BatchPredictionJob | None:
    """Predict the reviews of queued job ``job_id`` and record the outcome; None if the job was not queued.

    Never raises for a failed job: the failure (a model whose files fail their checksums, say) is
    recorded on the row. Re-raises only what is not an ``Exception`` (the process being told to stop).
    """
    return BatchPredictionRunner.handle(job_id, worker=worker)


class BatchPredictionRunner(JobRunner[BatchPredictionJob]):
    model = BatchPredictionJob
    task_name = "predictions.run_batch_prediction"
    what = "batch prediction job"

    @classmethod
    def queue_for(cls, job: BatchPredictionJob) -> str:
        return queue_for(job.model_version)

    def run(self) -> None:
        self.processed = _predict_pool(self)
        self.db.call(lambda: _reorder_labelling_queues(self.job))

    def record_success(self, job: BatchPredictionJob) -> None:
        job.processed = self.processed
        job.append_log(f"Succeeded: {job.predictions.count()} predictions stored.\n")


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


def _predict_pool(runner: BatchPredictionRunner) -> int:
    """Predict every review of the job's pool, chunk by chunk; returns how many reviews were handled.

    Each chunk's reads and its commit go through the runner's database guard: a chunk whose commit was
    lost to a database outage is predicted and stored again once the database is back.
    """
    from workers.ml.predictor import load_model

    job, db = runner.job, runner.db
    version = job.model_version
    review_ids = db.call(lambda: list(pool_reviews(job).order_by("id").values_list("id", flat=True)))
    db.call(lambda: BatchPredictionJob.objects.filter(pk=job.pk).update(total=len(review_ids), processed=0))
    runner.progress.log_line(f"Loading model version {version.pk} ({version.kind}).")
    # Int8 on a CPU as the web predictor serves it (PREDICTION_QUANTIZE), so a review gets the same answer
    # from a batch job as from the form.
    artifact_dir = db.call(lambda: model_version_artifact_dir(version=version))
    model = load_model(artifact_dir, quantize=settings.PREDICTION_QUANTIZE)
    runner.progress.log_line(
        f"Predicting {len(review_ids)} reviews of pool {_describe_pool(job)} with model version {version.pk}."
    )
    runner.progress.flush()
    started = time.perf_counter()
    processed = missing = 0
    for start in range(0, len(review_ids), CHUNK_SIZE):
        runner.progress.check_cancelled(force=True)
        chunk_ids = review_ids[start : start + CHUNK_SIZE]
        texts = db.call(lambda: dict(Review.objects.filter(id__in=chunk_ids).values_list("id", "text")))
        # A review deleted since the job started is skipped, not predicted from nothing.
        present = [review_id for review_id in chunk_ids if review_id in texts]
        missing += len(chunk_ids) - len(present)
        results = model.predict([texts[review_id] for review_id in present], batch_size=PREDICT_BATCH_SIZE)
        processed += len(chunk_ids)
        done = processed
        db.call(lambda: _store_chunk(job, present, texts, results, processed=done))
    seconds = time.perf_counter() - started
    skipped = f" {missing} reviews were deleted while it ran and were skipped." if missing else ""
    runner.progress.log_line(
        f"Predicted {processed - missing} reviews in {seconds:.1f} s "
        f"({(processed - missing) / max(seconds, 1e-9):.1f} reviews/s).{skipped}"
    )
    runner.progress.flush()
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
            raise JobCancelled
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


def _describe_pool(job: BatchPredictionJob) -> str:
    if job.pool == QueuePool.SNAPSHOT_SPLIT:
        return f"{job.pool} (snapshot {job.snapshot_id}, {job.split})"
    if job.pool == QueuePool.IMPORT:
        return f"{job.pool} (import {job.import_job_id})"
    return job.pool
