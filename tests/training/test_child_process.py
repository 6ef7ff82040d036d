"""Runs in a process of their own: any pool, data-loader processes, cancel as a signal, no orphan after SIGKILL."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.common.choices import TERMINAL_STATUSES, JobStatus
from apps.registry.models import ModelVersion
from apps.reviews.models import DatasetSnapshot
from apps.training.models import TrainingRun
from apps.training.services import training_run_cancel, training_run_create
from tests.conftest import WorkerProcess, start_worker, wait_until, worker_environment
from tests.training.conftest import tiny_transformer_settings, worker_database_url
from workers.tasks.training import run_training

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def prefork_worker(transactional_db: None, tmp_path: Path, artifact_root: Path) -> Iterator[WorkerProcess]:
    """A worker as compose runs the GPU one: Celery's prefork pool (daemonic children), loader processes on."""
    env = worker_environment(
        DATABASE_URL=worker_database_url(),
        ARTIFACT_ROOT=str(artifact_root),
        TRAIN_DATALOADER_WORKERS="2",
        RUN_HEARTBEAT_SECONDS="1",
        RUN_STALE_AFTER_SECONDS="5",
    )
    worker = start_worker(env=env, log_path=tmp_path / "prefork.log", queues="child-tests", name="prefork", pool="prefork")
    yield worker
    worker.stop()


def run_process_id(run: TrainingRun) -> int:
    """The pid of the run's own process, from the line the worker logs when it starts it."""

    def started() -> int | None:
        run.refresh_from_db()
        assert run.status in (JobStatus.QUEUED, JobStatus.RUNNING), f"{run.status}: {run.error}"
        found = re.search(r"Started process (\d+)", run.log_tail)
        return int(found.group(1)) if found and run.current_step > 0 else None

    return wait_until(started, timeout=180, interval=0.2, what="the run's process to start training")


def process_gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return True
    return "State:\tZ" in status.read_text()  # a zombie holds nothing (no memory, no GPU)


def test_a_prefork_worker_trains_with_data_loader_processes_in_a_process_of_its_own(
    prefork_worker: WorkerProcess, snapshot: DatasetSnapshot, tiny_bert_dir: Path
) -> None:
    run = training_run_create(snapshot=snapshot, enqueue=False, **tiny_transformer_settings(tiny_bert_dir, epochs=1))
    run_training.apply_async(args=[run.pk], queue="child-tests")

    wait_until(lambda: TrainingRun.objects.get(pk=run.pk).status in TERMINAL_STATUSES, timeout=240, what="the run")

    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, f"{run.error}\n{run.log_tail}\n{prefork_worker.log()}"
    assert "daemonic processes are not allowed to have children" not in run.log_tail
    assert re.search(r"Started process \d+", run.log_tail)
    assert "2 data-loader processes" in run.log_tail
    assert ModelVersion.objects.filter(training_run=run).exists()
    assert run.epoch_metrics.count() == 1


def test_cancelling_a_running_run_stops_its_process_and_the_row_says_cancelled(
    prefork_worker: WorkerProcess, snapshot: DatasetSnapshot, tiny_bert_dir: Path, artifact_root: Path
) -> None:
    run = training_run_create(
        snapshot=snapshot, enqueue=False, **tiny_transformer_settings(tiny_bert_dir, epochs=100, batch_size=2)
    )
    run_training.apply_async(args=[run.pk], queue="child-tests")
    pid = run_process_id(run)

    asked = time.monotonic()
    training_run_cancel(run=run)
    wait_until(lambda: TrainingRun.objects.get(pk=run.pk).status in TERMINAL_STATUSES, timeout=30, what="the cancel")

    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED, f"{run.error}\n{run.log_tail}"
    wait_until(lambda: process_gone(pid), timeout=15, what=f"process {pid} to end")
    assert time.monotonic() - asked < 30
    assert not (artifact_root / ".incomplete" / f"run-{run.pk}").exists()


def test_a_worker_killed_with_sigkill_takes_its_run_process_with_it(
    prefork_worker: WorkerProcess, snapshot: DatasetSnapshot, tiny_bert_dir: Path
) -> None:
    run = training_run_create(
        snapshot=snapshot, enqueue=False, **tiny_transformer_settings(tiny_bert_dir, epochs=100, batch_size=2)
    )
    run_training.apply_async(args=[run.pk], queue="child-tests")
    pid = run_process_id(run)

    prefork_worker.kill()

    wait_until(lambda: process_gone(pid), timeout=15, what=f"the orphaned run process {pid} to die")


def test_with_two_processes_a_run_trains_with_ddp_and_records_what_a_one_process_run_records(
    transactional_db: None, snapshot: DatasetSnapshot, tiny_bert_dir: Path, tmp_path: Path, artifact_root: Path
) -> None:
    env = worker_environment(DATABASE_URL=worker_database_url(), ARTIFACT_ROOT=str(artifact_root), TRAIN_PROCESSES="2")
    worker = start_worker(env=env, log_path=tmp_path / "ddp.log", queues="ddp-tests", name="ddp")
    try:
        run = training_run_create(snapshot=snapshot, enqueue=False, **tiny_transformer_settings(tiny_bert_dir, epochs=2))
        run_training.apply_async(args=[run.pk], queue="ddp-tests")
        wait_until(lambda: TrainingRun.objects.get(pk=run.pk).status in TERMINAL_STATUSES, timeout=300, what="the run")
    finally:
        worker.stop()

    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, f"{run.error}\n{run.log_tail}"
    assert "torch.distributed.run" in run.log_tail
    assert "in each of 2 processes (DistributedDataParallel" in run.log_tail
    assert [metric.epoch for metric in run.epoch_metrics.order_by("epoch")] == [1, 2]
    assert run.accuracy is not None and run.f1 is not None
    assert sum(map(sum, run.confusion_matrix)) == snapshot.test_count
    assert run.predictions.count() == snapshot.test_count
    assert ModelVersion.objects.filter(training_run=run).exists()
    assert not list((artifact_root / ".incomplete").glob(f"run-{run.pk}*"))
