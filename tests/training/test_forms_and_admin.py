"""Starting runs from the form, the admin and the command line, and refusing bad values in each."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from apps.common.choices import JobStatus
from apps.registry.models import ModelVersion
from apps.reviews.models import DatasetSnapshot
from apps.training.forms import EvaluationRunForm, TrainingRunForm
from apps.training.models import EvaluationRun, TrainingRun
from apps.training.services import training_run_create
from tests.brokering import stand_in_for_task
from workers.ml.config import TrainConfig
from workers.tasks.training import run_evaluation, run_training

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    messages: list[tuple[str, dict[str, Any]]] = []
    stand_in_for_task(monkeypatch, run_training.name, lambda **kwargs: messages.append(("training", kwargs)))
    stand_in_for_task(monkeypatch, run_evaluation.name, lambda **kwargs: messages.append(("evaluation", kwargs)))
    return messages


def form_data(snapshot: DatasetSnapshot, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {name: value for name, value in TrainConfig().to_dict().items() if value is not None}
    data.update(snapshot=snapshot.pk, notes="")
    data.update(overrides)
    return data


def test_the_form_gives_each_bad_hyperparameter_its_own_message(snapshot: DatasetSnapshot) -> None:
    form = TrainingRunForm(data=form_data(snapshot, learning_rate="2", epochs="0", batch_size="-3", max_length="lots"))

    assert not form.is_valid()
    assert form.errors["learning_rate"] == ["Learning rate must be greater than 0 and at most 1 (got 2)."]
    assert form.errors["epochs"] == ["Epochs must be between 1 and 100 (got 0)."]
    assert form.errors["batch_size"] == ["Batch size must be between 1 and 1024 (got -3)."]
    assert form.errors["max_length"] == ["Enter a whole number."]
    assert set(form.errors) == {"learning_rate", "epochs", "batch_size", "max_length"}


def test_a_valid_form_creates_a_queued_run(
    snapshot: DatasetSnapshot, sent: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    form = TrainingRunForm(data=form_data(snapshot, kind="tfidf", epochs="1"))
    assert form.is_valid(), form.errors

    with django_capture_on_commit_callbacks(execute=True):
        run = form.save()

    assert run.status == JobStatus.QUEUED
    assert (run.kind, run.epochs) == ("tfidf", 1)
    assert sent == [("training", {"args": [run.pk], "queue": "default", "task_id": run.celery_task_id})]


def test_the_evaluation_form_refuses_a_split_the_snapshot_does_not_hold(snapshot: DatasetSnapshot) -> None:
    version = ModelVersion.objects.create(kind="tfidf", snapshot=snapshot, artifact_path="1-abc")
    snapshot.items.filter(split="validation").delete()

    form = EvaluationRunForm(data={"model_version": version.pk, "snapshot": "", "split": "validation"})

    assert not form.is_valid()
    assert form.errors["split"] == [
        f"The validation split of snapshot {snapshot} is empty: choose another split or snapshot."
    ]


def test_the_evaluation_form_refuses_the_human_split_before_anyone_has_labelled(snapshot: DatasetSnapshot) -> None:
    version = ModelVersion.objects.create(kind="tfidf", snapshot=snapshot, artifact_path="1-abc")

    form = EvaluationRunForm(data={"model_version": version.pk, "snapshot": "", "split": "human"})

    assert not form.is_valid()
    assert "No review has a resolved human label yet" in form.errors["split"][0]


def test_an_admin_starts_a_run_from_the_add_form_and_sees_it_queued(
    admin_client: Client, snapshot: DatasetSnapshot, sent: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:training_trainingrun_add"), form_data(snapshot, kind="tfidf", epochs="1"), follow=True
        )

    assert response.status_code == 200
    run = TrainingRun.objects.get()
    assert run.status == JobStatus.QUEUED
    assert run.created_by is not None and run.created_by.username == "admin"
    assert f"Queued training run {run.pk} on the default queue." in response.content.decode()
    assert sent[0][1]["args"] == [run.pk]

    page = admin_client.get(reverse("admin:training_trainingrun_change", args=[run.pk])).content.decode()
    assert "Queued" in page
    assert 'name="_save"' not in page, "a run's page is read-only: saving would overwrite the worker's progress"


def test_the_admin_add_form_shows_each_bad_field_its_message(admin_client: Client, snapshot: DatasetSnapshot) -> None:
    response = admin_client.post(
        reverse("admin:training_trainingrun_add"), form_data(snapshot, warmup_ratio="1.5", seed="-1")
    )

    page = response.content.decode()
    assert "Warmup ratio must be at least 0 and below 1 (got 1.5)." in page
    assert "Seed must be between 0 and 4294967295 (got -1)." in page
    assert not TrainingRun.objects.exists()


def test_the_cancel_action_cancels_queued_runs_and_explains_finished_ones(
    admin_client: Client, snapshot: DatasetSnapshot
) -> None:
    queued = training_run_create(snapshot=snapshot, enqueue=False)
    finished = training_run_create(snapshot=snapshot, enqueue=False)
    finished.mark_cancelled()

    response = admin_client.post(
        reverse("admin:training_trainingrun_changelist"),
        {"action": "cancel_runs", "_selected_action": [queued.pk, finished.pk]},
        follow=True,
    )

    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED
    page = response.content.decode()
    assert f"Cancelled {queued.pk}" in page
    assert "has already cancelled: there is nothing to cancel." in page


def test_the_retry_action_queues_a_new_run_with_the_same_configuration(
    admin_client: Client, snapshot: DatasetSnapshot, sent: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    failed = training_run_create(snapshot=snapshot, kind="tfidf", seed=5, enqueue=False)
    failed.mark_failed("boom")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:training_trainingrun_changelist"),
            {"action": "retry_runs", "_selected_action": [failed.pk]},
            follow=True,
        )

    retry = TrainingRun.objects.exclude(pk=failed.pk).get()
    assert (retry.status, retry.kind, retry.seed) == (JobStatus.QUEUED, "tfidf", 5)
    assert f"Queued run {retry.pk}, a retry of run {failed.pk}." in response.content.decode()


def test_the_evaluate_action_queues_an_evaluation_of_each_runs_model_on_the_chosen_split(
    admin_client: Client, snapshot: DatasetSnapshot, sent: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    run = training_run_create(snapshot=snapshot, kind="tfidf", enqueue=False)
    version = ModelVersion.objects.create(training_run=run, kind="tfidf", snapshot=snapshot, artifact_path="1-abc")
    without_model = training_run_create(snapshot=snapshot, kind="tfidf", enqueue=False)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:training_trainingrun_changelist"),
            {
                "action": "evaluate_runs",
                "_selected_action": [run.pk, without_model.pk],
                "evaluation_split": "validation",
            },
            follow=True,
        )

    evaluation = EvaluationRun.objects.get()
    assert (evaluation.model_version, evaluation.snapshot, evaluation.split) == (version, snapshot, "validation")
    page = response.content.decode()
    assert f"Queued Evaluation {evaluation.pk} of version {version.pk} on validation." in page
    assert f"Run {without_model.pk} has no model version" in page
    assert sent == [("evaluation", {"args": [evaluation.pk], "queue": "default", "task_id": evaluation.celery_task_id})]


def test_an_admin_starts_an_evaluation_from_its_add_form(
    admin_client: Client, snapshot: DatasetSnapshot, sent: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    version = ModelVersion.objects.create(kind="transformer", snapshot=snapshot, artifact_path="1-abc")

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:training_evaluationrun_add"), {"model_version": version.pk, "snapshot": "", "split": "test"}
        )

    evaluation = EvaluationRun.objects.get()
    assert (evaluation.status, evaluation.snapshot, evaluation.split) == (JobStatus.QUEUED, snapshot, "test")
    assert sent[0][1]["queue"] == "gpu"


def test_the_train_command_lists_every_bad_value(snapshot: DatasetSnapshot) -> None:
    with pytest.raises(CommandError) as refused:
        call_command(
            "train", "--snapshot", str(snapshot.pk), "--lr", "7", "--epochs", "many", "--kind", "svm", stdout=StringIO()
        )

    message = str(refused.value)
    assert message.startswith("The training run was not started:")
    assert "--learning-rate: Learning rate must be greater than 0 and at most 1 (got 7)." in message
    assert "--epochs: Enter a whole number." in message
    assert "--kind: Select a valid choice. svm is not one of the available choices." in message
    assert not TrainingRun.objects.exists()


def test_the_train_command_names_a_missing_snapshot() -> None:
    with pytest.raises(CommandError, match="--snapshot: There is no such snapshot"):
        call_command("train", "--snapshot", "999", stdout=StringIO())


def test_the_train_command_with_no_wait_queues_the_run_and_returns(
    snapshot: DatasetSnapshot, sent: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("train", "--snapshot", str(snapshot.pk), "--kind", "tfidf", "--no-wait", stdout=out)

    run = TrainingRun.objects.get()
    assert out.getvalue() == f"Queued training run {run.pk} on the default queue.\n"
    assert run.status == JobStatus.QUEUED


def test_the_evaluate_command_refuses_an_unknown_split(snapshot: DatasetSnapshot) -> None:
    version = ModelVersion.objects.create(kind="tfidf", snapshot=snapshot, artifact_path="1-abc")

    with pytest.raises(CommandError, match="--split: Select a valid choice. dev is not one of the available choices."):
        call_command("evaluate", "--model-version", str(version.pk), "--split", "dev", stdout=StringIO())


def test_a_runs_admin_page_shows_its_progress_epoch_metrics_and_model_version(
    admin_client: Client, snapshot: DatasetSnapshot
) -> None:
    run = training_run_create(snapshot=snapshot, kind="tfidf", enqueue=False)
    run.mark_running(worker="gpu-3")
    TrainingRun.objects.filter(pk=run.pk).update(current_step=30, total_steps=40, eta_seconds=12, accuracy=0.875)
    run.epoch_metrics.create(epoch=1, step=20, train_loss=0.61, validation_loss=0.55, validation_accuracy=0.8125)
    version = ModelVersion.objects.create(training_run=run, kind="tfidf", snapshot=snapshot, artifact_path="1-abc")

    page = admin_client.get(reverse("admin:training_trainingrun_change", args=[run.pk])).content.decode()

    assert "75% (30/40 steps, about 12 s left)" in page
    assert "0.8125" in page and "0.61" in page
    assert "gpu-3" in page and "0.875" in page
    assert reverse("admin:registry_modelversion_change", args=[version.pk]) in page

    listing = admin_client.get(reverse("admin:training_trainingrun_changelist")).content.decode()
    assert "75% (30/40 steps, about 12 s left)" in listing
    assert "Evaluate the model of selected runs on" in listing
