"""Creating, cancelling, retrying and reaping runs, without a worker."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from apps.common.choices import JobStatus
from apps.common.maintenance import reap_stale
from apps.common.models import IllegalTransition
from apps.registry.models import ModelVersion
from apps.reviews.models import DatasetSnapshot, SnapshotItem
from apps.training.models import EvaluationRun, TrainingRun
from apps.training.services import (
    RunConfigError,
    evaluation_run_create,
    training_run_cancel,
    training_run_create,
    training_run_retry,
)
from tests.brokering import stand_in_for_task
from workers.tasks.training import run_evaluation, run_training

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What would have gone to the broker."""
    messages: list[dict[str, Any]] = []
    stand_in_for_task(monkeypatch, run_training.name, lambda **kwargs: messages.append(kwargs))
    return messages


def test_a_transformer_run_is_queued_on_the_gpu_queue_when_the_transaction_commits(
    snapshot: DatasetSnapshot, sent: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        run = training_run_create(snapshot=snapshot, epochs=3, learning_rate=3e-5)
        assert sent == [], "nothing is sent before the transaction commits"

    assert run.status == JobStatus.QUEUED
    assert (run.epochs, run.learning_rate, run.batch_size) == (3, 3e-5, 16)
    assert sent == [{"args": [run.pk], "queue": "gpu", "task_id": run.celery_task_id}]


def test_a_tfidf_run_is_queued_on_the_default_queue(
    snapshot: DatasetSnapshot, sent: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        run = training_run_create(snapshot=snapshot, kind="tfidf")

    assert sent[0]["queue"] == "default"
    assert run.kind == "tfidf"


def test_bad_hyperparameters_are_refused_with_a_message_per_field(snapshot: DatasetSnapshot) -> None:
    with pytest.raises(RunConfigError) as refused:
        training_run_create(snapshot=snapshot, learning_rate=5.0, epochs=0, kind="svm", truncation="middle")

    errors = refused.value.errors
    assert set(errors) == {"learning_rate", "epochs", "kind", "truncation"}
    assert "Learning rate must be greater than 0 and at most 1 (got 5)" in errors["learning_rate"]
    assert "Epochs must be between 1 and 100 (got 0)" in errors["epochs"]
    assert "transformer, tfidf" in errors["kind"]
    assert not TrainingRun.objects.exists()


def test_an_unknown_setting_is_named_rather_than_ignored(snapshot: DatasetSnapshot) -> None:
    with pytest.raises(RunConfigError) as refused:
        training_run_create(snapshot=snapshot, epoch=3)

    assert "Unknown training setting 'epoch'" in refused.value.errors["epoch"]


def test_a_subset_larger_than_the_training_split_is_refused(snapshot: DatasetSnapshot) -> None:
    with pytest.raises(RunConfigError) as refused:
        training_run_create(snapshot=snapshot, subset_size=500)

    assert refused.value.errors["subset_size"] == (
        "Subset size 500 is larger than the 40 training reviews of the snapshot; leave it empty to train on all of them."
    )


def test_a_snapshot_whose_training_split_has_one_label_is_refused(snapshot: DatasetSnapshot) -> None:
    SnapshotItem.objects.filter(snapshot=snapshot, split="train", label=1).delete()

    with pytest.raises(RunConfigError) as refused:
        training_run_create(snapshot=snapshot, kind="tfidf")

    assert "has no positive reviews; a classifier needs both labels" in refused.value.errors["snapshot"]


def test_cancelling_a_queued_run_cancels_it_at_once(snapshot: DatasetSnapshot, admin_user: Any) -> None:
    run = training_run_create(snapshot=snapshot)

    training_run_cancel(run=run, by=admin_user)

    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED
    assert run.finished_at is not None
    assert "Cancelled by admin before it started." in run.log_tail


def test_cancelling_a_running_run_asks_its_worker_to_stop(snapshot: DatasetSnapshot) -> None:
    run = training_run_create(snapshot=snapshot)
    run.mark_running(worker="gpu-1")

    training_run_cancel(run=run)

    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING
    assert run.cancel_requested
    assert "Cancellation requested; the worker stops at its next step." in run.log_tail


def test_cancelling_a_finished_run_is_refused_with_a_reason(snapshot: DatasetSnapshot) -> None:
    run = training_run_create(snapshot=snapshot)
    run.mark_failed("boom")

    with pytest.raises(IllegalTransition, match="has already failed: there is nothing to cancel"):
        training_run_cancel(run=run)


def test_a_retry_is_a_new_queued_run_with_the_same_configuration(snapshot: DatasetSnapshot, admin_user: Any) -> None:
    run = training_run_create(snapshot=snapshot, epochs=4, batch_size=8, max_length=128, truncation="head_tail", seed=7)
    run.mark_failed("The worker stopped sending heartbeats")

    retry = training_run_retry(run=run, by=admin_user)

    assert retry.pk != run.pk
    assert retry.status == JobStatus.QUEUED
    assert retry.created_by == admin_user
    assert (retry.snapshot, retry.epochs, retry.batch_size, retry.max_length, retry.truncation, retry.seed) == (
        snapshot, 4, 8, 128, "head_tail", 7,
    )  # fmt: skip
    assert f"Retry of run {run.pk}." in retry.notes


def test_a_running_run_cannot_be_retried(snapshot: DatasetSnapshot) -> None:
    run = training_run_create(snapshot=snapshot)
    run.mark_running()

    with pytest.raises(IllegalTransition, match="is still running"):
        training_run_retry(run=run)


def test_runs_whose_heartbeat_stopped_are_marked_failed_and_fresh_ones_are_left_alone(
    snapshot: DatasetSnapshot, settings: Any, artifact_root: Path
) -> None:
    settings.RUN_STALE_AFTER_SECONDS = 60
    stale = training_run_create(snapshot=snapshot)
    stale.mark_running(worker="gpu-7")
    fresh = training_run_create(snapshot=snapshot)
    fresh.mark_running(worker="gpu-8")
    TrainingRun.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    staging = artifact_root / ".incomplete" / f"run-{stale.pk}"
    staging.mkdir(parents=True)
    (staging / "model.safetensors").write_bytes(b"half")

    assert reap_stale() == 1

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == JobStatus.FAILED
    assert stale.error.startswith("The worker stopped sending heartbeats (killed or out of memory?)")
    assert "gpu-7" in stale.error
    assert fresh.status == JobStatus.RUNNING
    assert not staging.exists(), "the half-written artifacts of a reaped run are removed"
    assert reap_stale() == 0


def test_the_reaper_also_fails_stale_evaluations(snapshot: DatasetSnapshot, settings: Any) -> None:
    settings.RUN_STALE_AFTER_SECONDS = 60
    version = ModelVersion.objects.create(kind="tfidf", snapshot=snapshot, artifact_path="1-abc")
    evaluation = EvaluationRun.objects.create(model_version=version, snapshot=snapshot)
    evaluation.mark_running()

    assert reap_stale(now=timezone.now() + timedelta(seconds=61)) == 1

    evaluation.refresh_from_db()
    assert evaluation.status == JobStatus.FAILED
    assert "stopped sending heartbeats" in evaluation.error


def test_a_redelivered_task_does_not_start_a_run_that_is_not_queued(snapshot: DatasetSnapshot) -> None:
    run = training_run_create(snapshot=snapshot)
    run.mark_running(worker="gpu-1")
    run.mark_failed("The worker stopped sending heartbeats")

    run_training(run.pk)

    run.refresh_from_db()
    assert run.status == JobStatus.FAILED
    assert run.worker == "gpu-1"


def test_an_evaluation_is_queued_on_the_queue_of_its_models_kind(
    snapshot: DatasetSnapshot, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    sent: list[dict[str, Any]] = []
    stand_in_for_task(monkeypatch, run_evaluation.name, lambda **kwargs: sent.append(kwargs))
    version = ModelVersion.objects.create(kind="transformer", snapshot=snapshot, artifact_path="x")

    with django_capture_on_commit_callbacks(execute=True):
        evaluation = evaluation_run_create(model_version=version)

    assert (evaluation.snapshot, evaluation.split, evaluation.status) == (snapshot, "test", JobStatus.QUEUED)
    assert sent == [{"args": [evaluation.pk], "queue": "gpu", "task_id": evaluation.celery_task_id}]


def test_a_manifest_with_a_missing_loss_is_still_registered(snapshot: DatasetSnapshot, artifact_root: Path) -> None:
    from apps.registry.services import model_version_register
    from workers.ml.training import TrainResult

    run = training_run_create(snapshot=snapshot, enqueue=False)
    metrics = {"accuracy": 0.9, "f1": 0.8}
    result = TrainResult(
        metrics=metrics,
        test_predictions=[],
        epochs=[],
        device="cpu",
        artifact_dir=artifact_root / "7-abcdef12",
        train_samples_per_second=None,
        wall_seconds=1.0,
        artifact_size=123,
        manifest={"epochs": [{"epoch": 1, "train_loss": float("nan")}], "root": artifact_root},
    )

    version = model_version_register(run=run, result=result)

    version.refresh_from_db()
    assert version.artifact_path == "7-abcdef12"
    assert version.manifest == {"epochs": [{"epoch": 1, "train_loss": None}], "root": str(artifact_root)}
    assert (version.test_accuracy, version.test_f1, version.artifact_size) == (0.9, 0.8, 123)
