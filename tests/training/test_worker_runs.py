"""Runs through a real Celery worker process on PostgreSQL and Redis, as production runs them."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.common.choices import TERMINAL_STATUSES, JobStatus
from apps.common.models import Job
from apps.registry.models import ModelVersion
from apps.reviews.models import DatasetSnapshot
from apps.training.models import EvaluationRun, TrainingRun
from apps.training.services import (
    evaluation_run_create,
    training_run_cancel,
    training_run_create,
)
from tests.conftest import WorkerProcess, start_worker, wait_until, worker_environment
from tests.training.conftest import tiny_transformer_settings, worker_database_url
from workers.tasks.training import run_training

pytestmark = pytest.mark.django_db(transaction=True)


def finished(job: Job, *, timeout: float = 180, worker: WorkerProcess | None = None) -> Job:
    def done() -> bool:
        job.refresh_from_db()
        return job.status in TERMINAL_STATUSES

    try:
        wait_until(done, timeout=timeout, interval=0.2, what=f"{job} to finish")
    except BaseException:
        if worker is not None:
            print(worker.log())
        raise
    return job


def test_a_tiny_transformer_trains_on_the_worker_and_its_model_predicts_what_the_run_recorded(
    celery_worker_process: WorkerProcess, snapshot: DatasetSnapshot, tiny_bert_dir: Path, artifact_root: Path
) -> None:
    run = training_run_create(snapshot=snapshot, **tiny_transformer_settings(tiny_bert_dir, epochs=2))

    finished(run, worker=celery_worker_process)

    assert run.status == JobStatus.SUCCEEDED, f"{run.error}\n{run.log_tail}"
    assert run.started_at is not None and run.finished_at is not None and run.started_at < run.finished_at
    assert run.worker.startswith("test-")
    assert run.device
    assert run.total_steps > 0 and run.current_step == run.total_steps
    assert run.train_samples_per_second and run.train_samples_per_second > 0
    epochs = list(run.epoch_metrics.order_by("epoch"))
    assert [metric.epoch for metric in epochs] == [1, 2]
    assert all(metric.train_loss is not None and metric.validation_loss is not None for metric in epochs)
    assert all(0 <= metric.validation_accuracy <= 1 for metric in epochs)
    assert run.accuracy is not None and run.f1 is not None
    assert sum(map(sum, run.confusion_matrix)) == snapshot.test_count

    version = ModelVersion.objects.get(training_run=run)
    folder = artifact_root / version.artifact_path
    from workers.ml.artifacts import verify_artifacts
    from workers.ml.inference import load_model

    assert verify_artifacts(folder) == []
    assert (version.kind, version.base_model, version.snapshot) == ("transformer", str(tiny_bert_dir), snapshot)
    assert version.test_accuracy == run.accuracy
    stored = list(run.predictions.select_related("review").order_by("review_id"))
    assert len(stored) == snapshot.test_count
    reloaded = load_model(folder).predict([prediction.review.text for prediction in stored])
    assert [output["label"] for output in reloaded] == [prediction.predicted_label for prediction in stored]
    assert [output["confidence"] for output in reloaded] == pytest.approx([p.confidence for p in stored], abs=1e-4)
    assert not (artifact_root / ".incomplete" / f"run-{run.pk}").exists()


def test_the_tfidf_baseline_trains_on_the_worker_and_is_evaluated_there_on_a_snapshot_split(
    celery_worker_process: WorkerProcess, snapshot: DatasetSnapshot
) -> None:
    run = training_run_create(snapshot=snapshot, kind="tfidf")
    finished(run, worker=celery_worker_process)
    assert run.status == JobStatus.SUCCEEDED, f"{run.error}\n{run.log_tail}"
    assert run.accuracy is not None and run.accuracy >= 0.8, "the reviews say plainly what they think"

    evaluation = evaluation_run_create(model_version=run.model_version, split="validation")
    finished(evaluation, worker=celery_worker_process)

    assert evaluation.status == JobStatus.SUCCEEDED, f"{evaluation.error}\n{evaluation.log_tail}"
    assert (evaluation.snapshot, evaluation.split) == (snapshot, "validation")
    assert evaluation.predictions.count() == evaluation.total == snapshot.validation_count
    assert sum(map(sum, evaluation.confusion_matrix)) == snapshot.validation_count
    assert evaluation.accuracy is not None and evaluation.f1 is not None


def test_the_train_and_evaluate_commands_queue_their_runs_and_follow_them_to_the_end(
    celery_worker_process: WorkerProcess, snapshot: DatasetSnapshot
) -> None:
    out = StringIO()
    call_command("train", "--snapshot", str(snapshot.pk), "--kind", "tfidf", stdout=out, stderr=StringIO())

    run = TrainingRun.objects.get()
    version = ModelVersion.objects.get(training_run=run)
    assert out.getvalue().startswith(f"Queued training run {run.pk} on the default queue.\n")
    assert f"Training run {run.pk} succeeded on cpu: test accuracy {run.accuracy:.4f}" in out.getvalue()

    out = StringIO()
    call_command("evaluate", "--model-version", str(version.pk), "--split", "train", stdout=out, stderr=StringIO())

    evaluation = EvaluationRun.objects.get()
    assert evaluation.status == JobStatus.SUCCEEDED
    assert out.getvalue().startswith(f"Queued evaluation {evaluation.pk} on the default queue.\n")
    assert f"on {snapshot.train_count} train reviews: accuracy {evaluation.accuracy:.4f}" in out.getvalue()


def test_a_queued_run_is_cancelled_at_once_and_a_running_one_at_its_next_step(
    celery_worker_process: WorkerProcess, snapshot: DatasetSnapshot, tiny_bert_dir: Path, artifact_root: Path
) -> None:
    long = training_run_create(snapshot=snapshot, **tiny_transformer_settings(tiny_bert_dir, epochs=100, batch_size=2))

    def running_and_stepping() -> bool:
        long.refresh_from_db()
        return long.status == JobStatus.RUNNING and long.current_step > 0

    wait_until(running_and_stepping, timeout=120, what="the long run to start stepping")
    # The solo worker is busy with the long run, so this one waits in the queue.
    behind = training_run_create(snapshot=snapshot, **tiny_transformer_settings(tiny_bert_dir))

    training_run_cancel(run=behind)
    behind.refresh_from_db()
    assert behind.status == JobStatus.CANCELLED

    training_run_cancel(run=long)
    finished(long, timeout=60, worker=celery_worker_process)

    assert long.status == JobStatus.CANCELLED
    assert long.current_step < long.total_steps
    assert not ModelVersion.objects.filter(training_run=long).exists()
    assert not (artifact_root / ".incomplete" / f"run-{long.pk}").exists()
    assert not any(path.name.startswith(f"{long.pk}-") for path in artifact_root.iterdir())
    # Then the worker takes the cancelled run's message, and leaves it be.
    wait_until(
        lambda: f"TrainingRun {behind.pk} is cancelled, not queued" in celery_worker_process.log(),
        timeout=30,
        what="the worker to skip the cancelled run",
    )
    behind.refresh_from_db()
    assert behind.started_at is None


@pytest.fixture
def short_lived_workers(
    transactional_db: None, tmp_path: Path, artifact_root: Path
) -> Iterator[tuple[WorkerProcess, WorkerProcess]]:
    """A worker that will be killed (its own queue) and a bystander whose reaper notices; both reap fast."""
    env = worker_environment(
        DATABASE_URL=worker_database_url(),
        ARTIFACT_ROOT=str(artifact_root),
        RUN_STALE_AFTER_SECONDS="3",
        RUN_HEARTBEAT_SECONDS="1",
    )
    doomed = start_worker(env=env, log_path=tmp_path / "doomed.log", queues="training-doomed", name="doomed")
    bystander = start_worker(
        env=env, log_path=tmp_path / "bystander.log", queues="training-bystander", name="bystander"
    )
    yield doomed, bystander
    for worker in (doomed, bystander):
        worker.stop()


def test_a_run_whose_worker_is_killed_is_marked_failed_by_another_workers_reaper(
    short_lived_workers: tuple[WorkerProcess, WorkerProcess],
    snapshot: DatasetSnapshot,
    tiny_bert_dir: Path,
    artifact_root: Path,
) -> None:
    doomed, bystander = short_lived_workers
    run = training_run_create(
        snapshot=snapshot, enqueue=False, **tiny_transformer_settings(tiny_bert_dir, epochs=100, batch_size=2)
    )
    run_training.apply_async(args=[run.pk], queue="training-doomed")

    def alive_past_the_stale_limit() -> bool:
        run.refresh_from_db()
        assert run.status in (JobStatus.QUEUED, JobStatus.RUNNING), f"{run.status}: {run.error}\n{doomed.log()}"
        # Heartbeats keep a healthy run alive well past RUN_STALE_AFTER_SECONDS; kill it mid-training.
        beating_for = (run.heartbeat_at - run.started_at).total_seconds() if run.started_at else 0
        return run.status == JobStatus.RUNNING and beating_for > 5 and run.current_step > 0

    wait_until(alive_past_the_stale_limit, timeout=120, what="the run to outlive the stale limit on heartbeats")
    doomed.kill()

    finished(run, timeout=30, worker=bystander)

    assert run.status == JobStatus.FAILED
    assert run.error.startswith("The worker stopped sending heartbeats (killed or out of memory?)")
    assert run.worker.startswith("doomed-")
    assert not (artifact_root / ".incomplete" / f"run-{run.pk}").exists()
    assert not ModelVersion.objects.filter(training_run=run).exists()
