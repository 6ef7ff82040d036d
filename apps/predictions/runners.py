"""Job bodies of predictions, run on a worker: a batch prediction job (``BatchPredictionRunner``).

The worker that claims a job cuts its pool into ``BatchChunk`` rows, asks other workers on the queue to
join, and works chunks beside them (``apps.predictions.batch`` says how, and holds what the web needs:
checking, queueing and cancelling a job). When every chunk is done, the new predictions re-rank the
labelling queues that order by them.
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
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from apps.common import broker
from apps.common.choices import JobStatus
from apps.common.execution import JobCancelled, heartbeat
from apps.common.jobs import append_log
from apps.common.labels import QueuePool
from apps.predictions.batch import BatchPredictionJobKind, pool_reviews
from apps.predictions.choices import PredictionSource
from apps.predictions.models import BatchChunk, BatchPredictionJob, Prediction
from apps.registry.services import model_version_artifact_dir

if TYPE_CHECKING:
    from apps.registry.models import ModelVersion

logger = logging.getLogger(__name__)

# Reviews per forward pass of a transformer on a CPU, and on a GPU (the TF-IDF model takes a chunk at once).
PREDICT_BATCH_SIZE = 32
GPU_PREDICT_BATCH_SIZE = 256
# How often a worker with nothing left to claim looks again while other workers hold the last chunks.
CHUNK_WAIT_SECONDS = 1.0
# The message that asks another worker to help with a running job's chunks.
JOIN_TASK = "predictions.join_batch_prediction"


def batch_prediction_job_execute(*, job_id: int, worker: str | None = None) -> BatchPredictionJob | None:
    """Predict the reviews of queued job ``job_id`` and record the outcome; None if the job was not queued.

    Never raises for a failed job: the failure (a model whose files fail their checksums, say) is
    recorded on the row. Re-raises only what is not an ``Exception`` (the process being told to stop).
    """
    return BatchPredictionRunner.handle(job_id, worker=worker)


class BatchPredictionRunner(BatchPredictionJobKind):
    """A batch job is cut into chunks that any number of workers on its queue take (``BatchChunk``).

    The worker that claims the job plans the chunks (streaming the pool's ids, never listing them),
    asks for help (a ``join`` message per chunk, up to BATCH_MAX_HELPERS) and works chunks itself; each
    worker that joins works chunks until none is left. Whoever finds every chunk done records the
    success; a redelivered message of a running job joins it, so a job resumes after a crash.
    """

    # Declared again so that, where the job's body is loaded (a worker), it is the kind of BatchPredictionJob jobs.
    model = BatchPredictionJob

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
    from apps.predictions.serving import screen_confidence, screen_version_of
    from workers.ml.inference import ScreenedModel, load_model

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
