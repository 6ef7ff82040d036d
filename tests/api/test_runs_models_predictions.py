"""Training and evaluation runs, model versions and their cards, stored predictions and batch jobs."""

from __future__ import annotations

from typing import Any

import pytest

from apps.common.choices import JobStatus
from apps.labelling.models import Resolution
from apps.predictions.models import BatchPredictionJob, Prediction
from apps.training.models import EpochMetric, EvaluationRun, TrainingRun
from tests.api.conftest import World
from tests.brokering import stand_in_for_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """The tasks sent to the broker, in order, instead of sending them."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for name in ("run_training", "run_evaluation"):
        stand_in_for_task(monkeypatch, f"training.{name}", lambda _n=name, **kw: calls.append((_n, kw)))
    stand_in_for_task(monkeypatch, "predictions.run_batch_prediction", lambda **kw: calls.append(("run_batch_prediction", kw)))
    return calls


def test_a_training_run_is_queued_once_the_request_commits(
    world: World, sent: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    body = {"snapshot": world.snapshot.pk, "kind": "tfidf", "seed": 3, "notes": "baseline"}

    with django_capture_on_commit_callbacks(execute=True):
        response = world.client("ml_admin").post("/api/training-runs/", body, format="json")

    assert response.status_code == 202
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert response["Location"] == f"/api/training-runs/{run.pk}/"
    assert (run.status, run.kind, run.seed, run.notes, run.created_by) == (
        "queued",
        "tfidf",
        3,
        "baseline",
        world.users["ml_admin"],
    )
    assert response.json()["hyperparameters"]["learning_rate"] == 2e-5  # a default
    assert sent == [("run_training", {"args": [run.pk], "queue": "default", "task_id": run.celery_task_id})]


def test_bad_hyperparameters_and_an_unknown_snapshot_are_named_field_by_field(world: World) -> None:
    body = {"snapshot": 424242, "epochs": 0, "truncation": "middle"}

    response = world.client("ml_admin").post("/api/training-runs/", body, format="json")

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields["snapshot"] == "There is no snapshot 424242."
    assert set(fields) == {"snapshot", "epochs", "truncation"}
    assert not TrainingRun.objects.exclude(pk=world.run.pk).exists()


def test_an_unknown_field_is_refused_rather_than_a_default_run_queued(world: World, sent: list[Any]) -> None:
    # Hyperparameters nested under a made-up key would otherwise leave a default (hours-long) transformer run queued.
    body = {"snapshot": world.snapshot.pk, "config": {"kind": "tfidf"}}

    response = world.client("ml_admin").post("/api/training-runs/", body, format="json")

    assert response.status_code == 400
    message = response.json()["error"]["fields"]["config"]
    assert message.startswith("Unknown field; the fields are: snapshot, notes, kind, base_model,")
    assert not TrainingRun.objects.exclude(pk=world.run.pk).exists()
    assert sent == []


def test_a_run_reads_back_with_epochs_test_metrics_confusion_matrix_and_its_version(world: World) -> None:
    run = world.run
    TrainingRun.objects.filter(pk=run.pk).update(
        status=JobStatus.SUCCEEDED, accuracy=0.9, f1=0.91, confusion_matrix=[[9, 1], [1, 9]], metrics={"accuracy": 0.9}
    )
    EpochMetric.objects.create(run=run, epoch=1, step=10, train_loss=0.5, validation_loss=0.4, validation_accuracy=0.8)
    world.other_version.training_run = run
    world.other_version.save()

    body = world.client("integration").get(f"/api/training-runs/{run.pk}/").json()

    assert (body["status"], body["accuracy"], body["f1"]) == ("succeeded", 0.9, 0.91)
    assert body["confusion_matrix"] == [[9, 1], [1, 9]]
    assert body["epochs"] == [
        {
            "epoch": 1,
            "step": 10,
            "train_loss": 0.5,
            "validation_loss": 0.4,
            "validation_accuracy": 0.8,
            "validation_f1": None,
        }
    ]
    assert body["model_version"] == world.other_version.pk
    listed = world.client("integration").get("/api/training-runs/", {"status": "succeeded"}).json()["results"]
    assert [row["id"] for row in listed] == [run.pk] and listed[0]["model_version"] == world.other_version.pk


def test_cancelling_a_queued_run_ends_it_and_cancelling_again_is_a_conflict(world: World) -> None:
    client = world.client("ml_admin")

    cancelled = client.post(f"/api/training-runs/{world.run.pk}/cancel/")
    again = client.post(f"/api/training-runs/{world.run.pk}/cancel/")

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_an_evaluation_is_queued_on_the_versions_snapshot_and_can_be_cancelled(
    world: World, sent: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    client = world.client("ml_admin")

    with django_capture_on_commit_callbacks(execute=True):
        made = client.post(
            "/api/evaluation-runs/", {"model_version": world.version.pk, "split": "validation"}, format="json"
        )
    evaluation = EvaluationRun.objects.get(pk=made.json()["id"])
    cancelled = client.post(f"/api/evaluation-runs/{evaluation.pk}/cancel/")
    # The world's labelling queue may or may not have resolved a review (its order is random): none here.
    Resolution.objects.all().delete()
    human = client.post("/api/evaluation-runs/", {"model_version": world.version.pk, "split": "human"}, format="json")

    assert made.status_code == 202
    assert (evaluation.snapshot, evaluation.split) == (world.snapshot, "validation")
    assert sent[0][0] == "run_evaluation" and sent[0][1]["queue"] == "default"
    assert cancelled.json()["status"] == "cancelled"
    assert human.status_code == 400 and "resolved human label" in human.json()["error"]["fields"]["split"]


def test_the_model_card_comes_from_the_manifest_and_the_card_beside_the_weights(world: World) -> None:
    body = world.client("integration").get(f"/api/models/{world.version.pk}/card/").json()

    assert body["model_version"] == world.version.pk and body["kind"] == "tfidf"
    assert body["markdown"].startswith("# Sentiment model: TF-IDF + logistic regression")
    assert "## Intended use" in body["markdown"] and "## Limitations" in body["markdown"]


def test_analysts_see_every_prediction_and_an_integration_only_its_own(world: World) -> None:
    integration = world.client("integration")
    mine = integration.post("/api/predict", {"text": "The acting was superb, a brilliant film."}, format="json").json()

    own = integration.get("/api/predictions/").json()["results"]
    everything = world.client("analyst").get("/api/predictions/").json()["results"]
    positive = (
        world.client("analyst").get("/api/predictions/", {"label": "positive", "source": "api"}).json()["results"]
    )

    assert [row["id"] for row in own] == [mine["predictions"][0]["prediction_id"]]
    assert own[0]["user"] == "integration" and own[0]["model_version"] == world.version.pk
    assert {row["id"] for row in everything} == set(Prediction.objects.values_list("pk", flat=True))
    assert all(row["label"] == "positive" for row in positive)


def test_the_prediction_filters_take_confidence_and_time_bounds(world: World) -> None:
    client = world.client("analyst")

    confident = client.get("/api/predictions/", {"min_confidence": 0.95}).json()["results"]
    unsure = client.get("/api/predictions/", {"max_confidence": 0.95, "created_after": "2000-01-01T00:00:00Z"}).json()
    bad = client.get("/api/predictions/", {"min_confidence": 2})

    assert confident == []
    assert [row["id"] for row in unsure["results"]] == [world.prediction.pk]
    assert bad.status_code == 400 and "min_confidence" in bad.json()["error"]["fields"]


def test_a_batch_job_is_queued_checked_and_cancelled(
    world: World, sent: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    client = world.client("ml_admin")

    with django_capture_on_commit_callbacks(execute=True):
        made = client.post(
            "/api/batch-predictions/",
            {
                "model_version": world.version.pk,
                "pool": "snapshot_split",
                "snapshot": world.snapshot.pk,
                "split": "test",
            },
            format="json",
        )
    missing_split = client.post(
        "/api/batch-predictions/", {"model_version": world.version.pk, "pool": "snapshot_split"}, format="json"
    )
    cancelled = client.post(f"/api/batch-predictions/{made.json()['id']}/cancel/")

    assert made.status_code == 202
    job = BatchPredictionJob.objects.get(pk=made.json()["id"])
    assert (job.pool, job.snapshot, job.split) == ("snapshot_split", world.snapshot, "test")
    assert sent == [("run_batch_prediction", {"args": [job.pk], "queue": "default", "task_id": job.celery_task_id})]
    assert set(missing_split.json()["error"]["fields"]) == {"snapshot", "split"}
    assert cancelled.json()["status"] == "cancelled"
