"""One batch job shared by several workers, one of them killed midway: every review predicted exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

from apps.common.choices import TERMINAL_STATUSES, JobStatus
from apps.predictions.batch import batch_prediction_job_create
from apps.predictions.models import BatchChunk, BatchPredictionJob, Prediction
from apps.registry.models import ModelVersion
from sentimentsite.celery import app
from tests.conftest import WorkerProcess, start_worker, wait_until, worker_environment
from tests.registry.factories import make_reviews, make_version
from tests.training.conftest import worker_database_url
from workers.tasks.predictions import run_batch_prediction

pytestmark = pytest.mark.django_db(transaction=True)

REVIEWS = 1_200
CHUNK = 40


def own_broker() -> str:
    """A Redis database of these workers' own, so no other test's worker takes the job's messages."""
    base, _, number = settings.CELERY_BROKER_URL.rpartition("/")
    return f"{base}/{(int(number or 0) + 1) % 16}"


@pytest.fixture
def two_workers(transactional_db: None, tmp_path: Path, artifact_root: Path) -> Iterator[list[WorkerProcess]]:
    env = worker_environment(
        DATABASE_URL=worker_database_url(),
        CELERY_BROKER_URL=own_broker(),
        ARTIFACT_ROOT=str(artifact_root),
        BATCH_CHUNK_SIZE=str(CHUNK),
        RUN_HEARTBEAT_SECONDS="1",
        RUN_STALE_AFTER_SECONDS="4",
    )
    with app.connection_for_write(own_broker()) as connection:
        for queue in ("default", "gpu"):
            connection.default_channel.queue_purge(queue)
    workers = [start_worker(env=env, log_path=tmp_path / f"w{n}.log", name=f"share{n}") for n in (1, 2)]
    yield workers
    for worker in workers:
        worker.stop()


@pytest.fixture
def transformer_version(transformer_folder: Path) -> ModelVersion:
    return make_version(transformer_folder, kind="transformer")


def test_two_workers_share_a_job_and_one_killed_midway_loses_only_its_chunk(
    two_workers: list[WorkerProcess], transformer_version: ModelVersion
) -> None:
    make_reviews(REVIEWS, labelled=False)
    job = batch_prediction_job_create(model_version=transformer_version, pool="unlabelled", enqueue=False)
    # Sent by hand to these workers' own broker, and marked sent, so no other worker's sweeper sends it too.
    BatchPredictionJob.objects.filter(pk=job.pk).update(celery_task_id=str(uuid.uuid4()), dispatched_at=timezone.now())
    job.refresh_from_db()
    with app.connection_for_write(own_broker()) as connection:
        run_batch_prediction.apply_async(args=[job.pk], queue="gpu", task_id=job.celery_task_id, connection=connection)

    def both_at_work() -> bool:
        workers = BatchChunk.objects.filter(job=job).exclude(worker="").values("worker").distinct().count()
        done = BatchChunk.objects.filter(job=job, status=BatchChunk.Status.DONE).count()
        return workers >= 2 and done >= 3

    wait_until(both_at_work, timeout=180, interval=0.2, what="both workers to take chunks of the job")
    two_workers[0].kill()

    def finished() -> bool:
        job.refresh_from_db()
        return job.status in TERMINAL_STATUSES

    wait_until(finished, timeout=300, interval=0.5, what="the surviving worker to finish the job")
    assert job.status == JobStatus.SUCCEEDED, f"{job.error}\n{job.log_tail}\n{two_workers[1].log()}"
    predictions = Prediction.objects.filter(batch_job=job)
    assert predictions.count() == REVIEWS
    assert predictions.values("review").distinct().count() == REVIEWS, "no review predicted twice"
    assert (job.total, job.processed) == (REVIEWS, REVIEWS)
    chunks: dict[str, Any] = BatchChunk.objects.filter(job=job).aggregate(n=Count("id"), attempts=Sum("attempts"))
    assert chunks["n"] == REVIEWS // CHUNK
    assert "redone after a worker stopped" in job.log_tail
    assert chunks["attempts"] - chunks["n"] <= 1, "only the chunk the killed worker held is redone"
