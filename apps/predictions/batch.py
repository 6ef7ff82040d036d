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

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from apps.common import broker
from apps.common.choices import JobStatus
from apps.common.jobs import JobCancelled, JobRunner, append_log, heartbeat
from apps.common.labels import QueuePool
from apps.predictions.choices import PredictionSource
from apps.predictions.models import BatchChunk, BatchPredictionJob, Prediction
from apps.registry.selectors import model_version_queue
from apps.registry.services import model_version_artifact_dir
from apps.reviews.choices import Split
from apps.reviews.models import Review

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from apps.registry.models import ModelVersion
    from apps.reviews.models import DatasetSnapshot, ImportJob

logger = logging.getLogger(__name__)

# Reviews per forward pass of a transformer on a CPU, and on a GPU (the TF-IDF model takes a chunk at once).
PREDICT_BATCH_SIZE = 32
GPU_PREDICT_BATCH_SIZE = 256
# How often a worker with nothing left to claim looks again while other workers hold the last chunks.
CHUNK_WAIT_SECONDS = 1.0
# The message that asks another worker to help with a running job's chunks.
JOIN_TASK = "predictions.join_batch_prediction"


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
    """A batch job is cut into chunks that any number of workers on its queue take (``BatchChunk``).

    The worker that claims the job plans the chunks (streaming the pool's ids, never listing them),
    asks for help (a ``join`` message per chunk, up to BATCH_MAX_HELPERS) and works chunks itself; each
    worker that joins works chunks until none is left. Whoever finds every chunk done records the
    success; a redelivered message of a running job joins it, so a job resumes after a crash.
    """

    model = BatchPredictionJob
    task_name = "predictions.run_batch_prediction"
    what = "batch prediction job"

    @classmethod
    def queue_for(cls, job: BatchPredictionJob) -> str:
        return queue_for(job.model_version)

    def run(self) -> None:
        # A job run in this process (manage.py predict_batch --now) is not one for the workers to share.
        if self.db.call(lambda: plan_chunks(self.job)) and self.job.celery_task_id:
            self._ask_for_help()
        work_chunks(self)

    def is_complete(self) -> bool:
        return not self.db.call(lambda: self.job.chunks.exclude(status=BatchChunk.Status.DONE).exists())

    def record_success(self, job: BatchPredictionJob) -> None:
        counts = job.chunks.aggregate(chunks=Count("id"), attempts=Sum("attempts"), workers=Count("worker", distinct=True))
        redone = (counts["attempts"] or 0) - (counts["chunks"] or 0)
        job.append_log(_reorder_labelling_queues(job))
        job.append_log(
            f"Succeeded: {job.predictions.count()} predictions stored. {counts['chunks']} chunk(s) done by "
            f"{counts['workers']} worker process(es); {redone} redone after a worker stopped.\n"
        )

    @property
    def identity(self) -> str:
        """Who holds a chunk: the worker and its process (a prefork worker's pool processes share a name)."""
        return f"{socket.gethostname()}:{os.getpid()}"

    def beat(self) -> None:
        """Part of the heartbeat: the chunk this process holds stays its own while it works."""
        BatchChunk.objects.filter(job_id=self.job.pk, status=BatchChunk.Status.RUNNING, worker=self.identity).update(
            heartbeat_at=timezone.now()
        )

    def _ask_for_help(self) -> None:
        helpers = min(self.job.chunks.count() - 1, int(settings.BATCH_MAX_HELPERS))
        for _ in range(helpers):
            try:
                broker.send(JOIN_TASK, job_id=self.job.pk, queue=self.queue_for(self.job), task_id=str(uuid.uuid4()))
            except broker.transient_broker_errors() as error:
                logger.warning("Could not ask for help with batch job %s (%s); going on alone.", self.job.pk, error)
                return


def batch_prediction_job_join(*, job_id: int) -> None:
    """Work the chunks of running batch job ``job_id`` beside other workers (a ``join`` message, or a redelivery)."""
    job = BatchPredictionJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).select_related("model_version").first()
    if job is None:
        return
    runner = BatchPredictionRunner(job)
    try:
        with heartbeat(BatchPredictionJob, job_id, also=runner.beat):
            work_chunks(runner)
            if runner.is_complete():
                runner.db.call(runner._succeed)
    except BaseException as error:
        runner._stopped(error)
        if not isinstance(error, Exception):
            raise


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


def plan_chunks(job: BatchPredictionJob) -> bool:
    """Cut the job's pool into chunks of BATCH_CHUNK_SIZE reviews in id order, streaming the ids; False if already cut."""
    with transaction.atomic():
        if job.chunks.exists():
            return False
        ids = pool_reviews(job).order_by("id").values_list("id", flat=True).iterator(chunk_size=20_000)
        pending: list[BatchChunk] = []
        total = 0
        size = int(settings.BATCH_CHUNK_SIZE)
        for index, group in enumerate(_groups(ids, size)):
            pending.append(
                BatchChunk(job=job, index=index, first_review_id=group[0], last_review_id=group[-1], size=len(group))
            )
            total += len(group)
            if len(pending) >= 1_000:
                BatchChunk.objects.bulk_create(pending)
                pending = []
        BatchChunk.objects.bulk_create(pending)
        BatchPredictionJob.objects.filter(pk=job.pk).update(total=total, processed=0)
    job.total = total
    append_log(
        BatchPredictionJob,
        job.pk,
        f"Predicting {total} reviews of pool {_describe_pool(job)} with model version {job.model_version_id}, "
        f"in {-(-total // size)} chunks of up to {size}.\n",
    )
    return True


def work_chunks(runner: BatchPredictionRunner) -> None:
    """Claim, predict and store chunks until none is left to claim (or the job is cancelled).

    The model is loaded once, as the web predictor serves it (int8 on a CPU, the TF-IDF screen, the
    cache), so a review gets the same answer from a batch job as from the form. A review that left the
    pool since the chunks were cut (deleted, say) is skipped.
    """
    job, db = runner.job, runner.db
    model = None
    started, predicted = time.perf_counter(), 0
    while True:
        runner.progress.check_cancelled(force=True)
        chunk = db.call(lambda: _claim_chunk(job, runner.identity))
        if chunk is None:
            if runner.is_complete():
                break
            # Other workers hold the last chunks: they finish them, or die and their chunks go stale and are
            # claimed here. Leaving now could leave a dead worker's chunk with nobody to take it.
            time.sleep(CHUNK_WAIT_SECONDS)
            continue
        if model is None:
            model = db.call(lambda: serving_model(job.model_version))
        rows = db.call(lambda: _chunk_reviews(job, chunk))
        results = model.predict([text for _, text in rows], batch_size=predict_batch_size(model))
        try:
            db.call(lambda: _store_chunk(job, chunk, rows, results, worker=runner.identity))
        except _ChunkTaken:
            logger.warning("Chunk %s of batch job %s was taken over by another worker; dropped here.", chunk.index, job.pk)
            continue
        predicted += len(rows)
    if predicted:
        seconds = time.perf_counter() - started
        append_log(
            BatchPredictionJob,
            job.pk,
            f"{runner.identity} predicted {predicted} reviews in {seconds:.1f} s "
            f"({predicted / max(seconds, 1e-9):.1f} reviews/s).\n",
        )


def serving_model(version: ModelVersion) -> Any:
    """The version loaded as the web predictor serves it: int8 on a CPU, its TF-IDF screen, the cache."""
    from workers.ml.inference import ScreenedModel, load_model

    from apps.predictions.serving import screen_confidence, screen_version_of

    def load(of: ModelVersion) -> Any:
        return load_model(
            model_version_artifact_dir(version=of),
            quantize=settings.PREDICTION_QUANTIZE,
            cache_size=settings.PREDICTION_CACHE_SIZE,
        )

    model = load(version)
    screen = screen_version_of(version)
    return ScreenedModel(model, load(screen), screen_confidence()) if screen is not None else model


def predict_batch_size(model: Any) -> int:
    """Reviews per forward pass: GPU-sized on a GPU, small on a CPU (where a larger one gains nothing)."""
    device = getattr(getattr(model, "model", model), "device", None)
    return GPU_PREDICT_BATCH_SIZE if getattr(device, "type", "cpu") == "cuda" else PREDICT_BATCH_SIZE


class _ChunkTaken(Exception):
    """Another worker took this chunk over (this one looked dead to it); its answers must not be stored."""


def _claim_chunk(job: BatchPredictionJob, identity: str) -> BatchChunk | None:
    stale_before = timezone.now() - timedelta(seconds=settings.RUN_STALE_AFTER_SECONDS)
    claimable = Q(status=BatchChunk.Status.PENDING) | Q(status=BatchChunk.Status.RUNNING, heartbeat_at__lt=stale_before)
    with transaction.atomic():
        chunk = job.chunks.select_for_update(skip_locked=True).filter(claimable).order_by("index").first()
        if chunk is None:
            return None
        chunk.status, chunk.worker, chunk.heartbeat_at = BatchChunk.Status.RUNNING, identity, timezone.now()
        chunk.attempts += 1
        chunk.save(update_fields=["status", "worker", "heartbeat_at", "attempts"])
    return chunk


def _groups(ids: Iterable[int], size: int) -> Iterator[list[int]]:
    stream = iter(ids)
    while group := list(islice(stream, size)):
        yield group


def _chunk_reviews(job: BatchPredictionJob, chunk: BatchChunk) -> list[tuple[int, str]]:
    reviews = pool_reviews(job).filter(id__gte=chunk.first_review_id, id__lte=chunk.last_review_id)
    return list(reviews.order_by("id").values_list("id", "text"))


def _store_chunk(
    job: BatchPredictionJob, chunk: BatchChunk, rows: list[tuple[int, str]], results: list[dict[str, Any]], *, worker: str
) -> None:
    """The chunk's predictions, the chunk marked done and the job's progress in one commit, while both are ours."""
    now = timezone.now()
    with transaction.atomic():
        mine = BatchChunk.objects.filter(pk=chunk.pk, status=BatchChunk.Status.RUNNING, worker=worker).update(
            status=BatchChunk.Status.DONE, heartbeat_at=now
        )
        if not mine:
            raise _ChunkTaken
        still_running = BatchPredictionJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            processed=F("processed") + chunk.size, heartbeat_at=now, updated_at=now
        )
        if not still_running:
            raise JobCancelled
        Prediction.objects.bulk_create(
            Prediction(
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
            for (review_id, _), result in zip(rows, results, strict=True)
        )


def _reorder_labelling_queues(job: BatchPredictionJob) -> str:
    """New predictions of the current model re-rank the uncertainty and suspicious labelling queues.

    Runs once, in the transaction that records the job's success, inside a savepoint of its own: a
    failure leaves the predictions stored and says so. Returns the line for the job's log ("" for none).
    """
    from apps.labelling.services import queues_reorder_for_model

    version = job.model_version
    version.refresh_from_db(fields=["is_current"])
    started = time.perf_counter()
    try:
        with transaction.atomic():
            queues = queues_reorder_for_model(model_version=version)
    except Exception as error:  # the predictions are stored: a queue can still be reordered by hand
        logger.exception("Reordering labelling queues after batch job %s failed", job.pk)
        return f"Could not reorder the labelling queues: {error}. Reorder them by hand.\n"
    if not queues:
        return ""
    names = ", ".join(queue.name for queue in queues)
    return (
        f"Reordered {len(queues)} labelling queue(s) with these predictions in "
        f"{time.perf_counter() - started:.1f} s: {names}.\n"
    )


def _describe_pool(job: BatchPredictionJob) -> str:
    if job.pool == QueuePool.SNAPSHOT_SPLIT:
        return f"{job.pool} (snapshot {job.snapshot_id}, {job.split})"
    if job.pool == QueuePool.IMPORT:
        return f"{job.pool} (import {job.import_job_id})"
    return job.pool
