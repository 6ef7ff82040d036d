"""Runs executed in this process: ``manage.py train --now`` / ``evaluate --now`` and failures."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.common.choices import JobStatus
from apps.labelling.models import Resolution
from apps.registry.models import ModelVersion
from apps.reviews.models import DatasetSnapshot, Review
from apps.training.models import EvaluationRun, TrainingRun
from apps.training.runners import training_run_execute
from apps.training.services import training_run_create
from tests.training.conftest import make_reviews

# The heartbeat thread has a connection of its own, so these tests commit like a worker would.
pytestmark = pytest.mark.django_db(transaction=True)


def artifact_folders(root: Path) -> set[str]:
    return {path.name for path in root.iterdir() if path.is_dir() and path.name != ".incomplete"}


def test_train_now_trains_the_tfidf_baseline_in_this_process_and_reports_its_metrics(
    snapshot: DatasetSnapshot, artifact_root: Path
) -> None:
    out = StringIO()

    call_command("train", "--snapshot", str(snapshot.pk), "--kind", "tfidf", "--now", stdout=out)

    run = TrainingRun.objects.get()
    assert run.status == JobStatus.SUCCEEDED
    assert run.started_at is not None and run.finished_at is not None
    assert run.predictions.count() == snapshot.test_count == 10
    version = ModelVersion.objects.get(training_run=run)
    assert version.kind == "tfidf" and version.base_model == ""
    assert (artifact_root / version.artifact_path).is_dir()
    assert version.artifact_path.startswith(f"{run.pk}-")
    assert version.test_accuracy == run.accuracy
    assert version.artifact_size > 0
    text = out.getvalue()
    assert text.startswith(f"Training run {run.pk} (tfidf) in this process ...\n")
    assert f"Training run {run.pk} succeeded on cpu: test accuracy {run.accuracy:.4f}" in text
    assert f"Model version {version.pk}." in text


def test_a_run_that_fails_records_why_and_leaves_no_artifact_folder(
    snapshot: DatasetSnapshot, artifact_root: Path, tmp_path: Path
) -> None:
    before = artifact_folders(artifact_root)
    run = training_run_create(
        snapshot=snapshot, base_model=str(tmp_path / "no-such-model"), max_length=32, enqueue=False
    )

    training_run_execute(run_id=run.pk, worker="here")

    run.refresh_from_db()
    assert run.status == JobStatus.FAILED
    assert "no-such-model" in run.error
    assert "Traceback" in run.log_tail
    assert run.worker == "here"
    assert not hasattr(run, "model_version") or ModelVersion.objects.filter(training_run=run).count() == 0
    assert artifact_folders(artifact_root) == before
    assert not (artifact_root / ".incomplete" / f"run-{run.pk}").exists()


def test_a_failed_train_now_ends_the_command_with_the_error(snapshot: DatasetSnapshot, tmp_path: Path) -> None:
    missing = tmp_path / "missing-model"

    with pytest.raises(CommandError, match="Training run \\d+ failed: .*missing-model"):
        call_command("train", "--snapshot", str(snapshot.pk), "--base-model", str(missing), "--now", stdout=StringIO())


def test_executing_a_run_that_is_not_queued_does_nothing(snapshot: DatasetSnapshot) -> None:
    run = training_run_create(snapshot=snapshot, kind="tfidf", enqueue=False)
    run.mark_cancelled()

    assert training_run_execute(run_id=run.pk) is None

    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED
    assert run.started_at is None


def test_evaluate_now_measures_a_version_on_the_human_labelled_reviews(snapshot: DatasetSnapshot) -> None:
    call_command("train", "--snapshot", str(snapshot.pk), "--kind", "tfidf", "--now", stdout=StringIO())
    version = ModelVersion.objects.get()
    for review in make_reviews(12, seed=99, source="labelled-by-people"):
        Resolution.objects.create(review=review, label=review.gold_label, method="unanimous")
    Review.objects.filter(source="labelled-by-people").update(gold_label=None)
    out = StringIO()

    call_command("evaluate", "--model-version", str(version.pk), "--split", "human", "--now", stdout=out)

    evaluation = EvaluationRun.objects.get()
    assert evaluation.status == JobStatus.SUCCEEDED
    assert evaluation.snapshot is None
    assert (evaluation.total, evaluation.processed, evaluation.predictions.count()) == (12, 12, 12)
    assert sum(map(sum, evaluation.confusion_matrix)) == 12
    assert f"on 12 human reviews: accuracy {evaluation.accuracy:.4f}" in out.getvalue()
