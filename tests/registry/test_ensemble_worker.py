"""An ensemble of a TF-IDF version and a tiny transformer, built by a real Celery worker on PostgreSQL and Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.common.choices import TERMINAL_STATUSES, JobStatus
from apps.common.models import Job
from apps.common.roles import ML_ADMIN
from apps.registry.ensembles import ensemble_build_create
from apps.registry.models import EnsembleBuild, ModelVersion
from apps.reviews.models import DatasetSnapshot
from apps.reviews.snapshots import snapshot_create
from apps.training.models import EvaluationRun, TrainingRun
from apps.training.services import training_run_create
from tests.conftest import WorkerProcess, wait_until
from tests.registry.factories import UserFactory, tamper
from tests.training.conftest import make_reviews, tiny_transformer_settings
from workers.ml.artifacts import verify_artifacts
from workers.ml.inference import load_model

pytestmark = pytest.mark.django_db(transaction=True)


def finished(job: Job, worker: WorkerProcess, *, timeout: float = 240) -> Any:
    def done() -> bool:
        job.refresh_from_db()
        return job.status in TERMINAL_STATUSES

    try:
        wait_until(done, timeout=timeout, interval=0.2, what=f"{job} to finish")
    except BaseException:
        print(worker.log())
        raise
    return job


@pytest.fixture
def snapshot(db: None) -> DatasetSnapshot:
    make_reviews(60)
    return snapshot_create(name="sixty reviews", train_fraction=0.66, validation_fraction=0.17, test_fraction=0.17)


def trained(worker: WorkerProcess, snapshot: DatasetSnapshot, **settings: Any) -> TrainingRun:
    run = finished(training_run_create(snapshot=snapshot, **settings), worker)
    assert run.status == JobStatus.SUCCEEDED, f"{run.error}\n{run.log_tail}"
    return run


def test_the_worker_builds_an_ensemble_of_tfidf_and_a_transformer_measured_beside_each_member(
    celery_worker_process: WorkerProcess, snapshot: DatasetSnapshot, tiny_bert_dir: Path, artifact_root: Path
) -> None:
    tfidf = trained(celery_worker_process, snapshot, kind="tfidf")
    transformer = trained(celery_worker_process, snapshot, **tiny_transformer_settings(tiny_bert_dir, epochs=2))
    members = [tfidf.model_version, transformer.model_version]
    admin = APIClient()
    admin.force_authenticate(UserFactory(username="ensembler", roles=[ML_ADMIN]))

    response = admin.post("/api/models/ensembles/", {"members": [m.pk for m in members]}, format="json")
    assert response.status_code == 202, response.json()
    build = finished(EnsembleBuild.objects.get(pk=response.json()["id"]), celery_worker_process)

    assert build.status == JobStatus.SUCCEEDED, f"{build.error}\n{build.log_tail}"
    assert build.worker.startswith("test-") and build.device
    assert build.processed == build.total == 2 * (snapshot.validation_count + snapshot.test_count)
    reported = admin.get(f"/api/models/ensembles/{build.pk}/").json()
    assert reported["accuracy"] == build.accuracy and reported["f1"] == build.f1
    assert sum(map(sum, reported["confusion_matrix"])) == snapshot.test_count
    by_member = {row["model_version_id"]: row for row in reported["metrics"]["members"]}
    # Each member is measured on the same test split its own run was: the same figures.
    assert by_member[tfidf.model_version.pk]["accuracy"] == tfidf.accuracy
    assert by_member[transformer.model_version.pk]["accuracy"] == pytest.approx(transformer.accuracy)
    assert by_member[transformer.model_version.pk]["kind"] == "transformer"
    # The words say plainly what each review thinks: the TF-IDF member is right on all of them, and so is the
    # ensemble, whatever the tiny random transformer makes of them.
    assert build.accuracy >= max(tfidf.accuracy, transformer.accuracy)

    version = ModelVersion.objects.get(pk=reported["model_version"])
    detail = admin.get(f"/api/models/{version.pk}/").json()
    assert detail["kind"] == "ensemble" and detail["metrics"]["accuracy"] == build.accuracy
    assert [(row["model_version"], row["position"]) for row in detail["members"]] == [(m.pk, i) for i, m in enumerate(members)]
    folder = artifact_root / version.artifact_path
    assert verify_artifacts(folder) == []
    assert load_model(folder).kind == "ensemble"
    assert not (artifact_root / ".incomplete" / f"ensemble-{build.pk}").exists()

    # Its test split is evaluated like any version's, on the GPU queue (a member is a transformer).
    evaluation = finished(EvaluationRun.objects.get(model_version=version), celery_worker_process)
    assert evaluation.status == JobStatus.SUCCEEDED, f"{evaluation.error}\n{evaluation.log_tail}"
    assert (evaluation.split, evaluation.accuracy) == ("test", pytest.approx(build.accuracy))
    assert evaluation.predictions.count() == snapshot.test_count


def test_a_member_whose_files_changed_fails_the_build_on_the_worker_and_nothing_is_registered(
    celery_worker_process: WorkerProcess, snapshot: DatasetSnapshot, artifact_root: Path
) -> None:
    first = trained(celery_worker_process, snapshot, kind="tfidf")
    second = trained(celery_worker_process, snapshot, kind="tfidf", tfidf_ngram_max=1)
    tamper(second.model_version)

    build = finished(ensemble_build_create(members=[first.model_version, second.model_version]), celery_worker_process)

    assert build.status == JobStatus.FAILED
    assert "failed its integrity check" in build.error and "weights.safetensors" in build.error
    assert build.model_version is None
    assert not ModelVersion.objects.filter(kind="ensemble").exists()
    assert not (artifact_root / ".incomplete" / f"ensemble-{build.pk}").exists()
    assert not list(artifact_root.glob(f"ensemble-{build.pk}-*"))
