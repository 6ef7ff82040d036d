"""A real Celery worker and this (web) process that share no folder: only PostgreSQL, Redis and object storage.

The worker runs with a VAR_DIR, ARTIFACT_ROOT, ARTIFACT_CACHE_DIR and IMPORT_UPLOAD_DIR of its own, the
web side with others; the object store is moto's standalone server on a free port (see
``test_object_storage`` for what such an emulator cannot prove). Jobs go to a queue of this module's
own, so a worker other tests left running never takes them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.common.roles import INTEGRATION, ML_ADMIN
from apps.predictions.serving import predictor
from apps.registry.models import ModelVersion
from apps.registry.services import model_version_promote
from apps.reviews.imports import ImportRunner
from apps.reviews.snapshots import snapshot_create
from apps.training.choices import ModelKind
from apps.training.models import TrainingRun
from apps.training.jobs import EvaluationJob, TrainingJob
from apps.training.services import training_run_create
from tests.conftest import WorkerProcess, start_worker, wait_until, worker_environment
from tests.registry.factories import UserFactory, make_reviews, review_text
from tests.storage.conftest import (
    ObjectStore,
    files_under,
    new_object_store,
    use_object_store,
)
from tests.training.conftest import worker_database_url
from workers.ml.artifacts import MANIFEST_NAME

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "storage-tests"
POSITIVE_TEXT = "The acting was superb and the ending brilliant."


@pytest.fixture(scope="module")
def module_store(s3_endpoint: str) -> ObjectStore:
    return new_object_store(s3_endpoint)


@pytest.fixture(scope="module")
def worker_var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worker-var")


@pytest.fixture(scope="module")
def storage_worker(
    django_db_setup: None, django_db_blocker: Any, module_store: ObjectStore, worker_var: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    with django_db_blocker.unblock():
        database_url = worker_database_url()
    from sentimentsite.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(QUEUE)
    env = worker_environment(
        DATABASE_URL=database_url,
        VAR_DIR=str(worker_var),
        ARTIFACT_ROOT=str(worker_var / "artifacts"),
        ARTIFACT_CACHE_DIR=str(worker_var / "artifact-cache"),
        IMPORT_UPLOAD_DIR=str(worker_var / "uploads"),
        ARTIFACT_STORAGE_URL=module_store.url,
        ARTIFACT_STORAGE_ENDPOINT_URL=module_store.endpoint_url,
    )
    worker = start_worker(
        env=env, log_path=tmp_path_factory.mktemp("storage-worker") / "worker.log", queues=QUEUE, name="storage"
    )
    yield worker
    worker.stop()


@pytest.fixture
def web_var(
    settings: Any, module_store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    static_files_as_in_development: None,
) -> Iterator[Path]:
    """This process as a web process: the module's object store, folders of its own, jobs to the module's queue."""
    use_object_store(settings, module_store, tmp_path / "web")
    for runner in (ImportRunner, TrainingJob, EvaluationJob):
        monkeypatch.setattr(runner, "queue_for", classmethod(lambda cls, job: QUEUE))
    predictor.clear()
    yield tmp_path / "web"
    predictor.clear()


def api_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(username="pipeline", roles=[ML_ADMIN, INTEGRATION]))
    return client


def finished(client: APIClient, location: str, worker: WorkerProcess, *, timeout: float = 180) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body = client.get(location).json()
        assert body["status"] in ("queued", "running", "succeeded"), f"{body}\n{worker.log()[-3000:]}"
        return body if body["status"] == "succeeded" else None

    return wait_until(done, timeout=timeout, interval=0.3, what=f"{location} to succeed")


def test_a_worker_trains_and_publishes_to_object_storage_and_a_web_process_with_an_empty_cache_serves_it(
    storage_worker: WorkerProcess, web_var: Path, module_store: ObjectStore, worker_var: Path
) -> None:
    make_reviews(60, labelled=True)
    snapshot = snapshot_create(name="sixty", train_fraction=0.66, validation_fraction=0.17, test_fraction=0.17)
    run = training_run_create(snapshot=snapshot, kind=ModelKind.TFIDF)

    def succeeded() -> bool:
        run.refresh_from_db()
        assert run.status in ("queued", "running", "succeeded"), f"{run.status}: {run.error}\n{storage_worker.log()}"
        return run.status == "succeeded"

    wait_until(succeeded, timeout=180, what="the training run to succeed on the worker")
    version = ModelVersion.objects.get(training_run=run)
    stored = module_store.storage("artifacts").list_files(version.artifact_path)
    assert MANIFEST_NAME in stored and "weights.safetensors" in stored
    assert f"at {module_store.url}/artifacts/{version.artifact_path}." in run.log_tail
    # The worker kept nothing of the model: the store has it.
    assert [name for name in files_under(worker_var / "artifacts") if not name.startswith(".incomplete")] == []
    assert files_under(web_var) == []  # an empty cache

    model_version_promote(version=version, by=None, reason="trained on a worker that shares no folder")
    response = api_client().post("/api/predict", {"text": POSITIVE_TEXT}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["model_version"]["id"] == version.pk
    assert response.json()["predictions"][0]["label"] == "positive"
    assert MANIFEST_NAME in files_under(web_var / "artifact-cache" / version.artifact_path)


def test_import_train_evaluate_and_predict_work_through_the_broker_the_database_and_object_storage_alone(
    storage_worker: WorkerProcess, web_var: Path, module_store: ObjectStore, worker_var: Path
) -> None:
    client = api_client()
    rng = random.Random(5)
    rows = "".join(f"{review_text(n % 2, rng)},{['negative', 'positive'][n % 2]}\n" for n in range(80))
    upload = SimpleUploadedFile("crm.csv", f"review,sentiment\n{rows}".encode(), "text/csv")

    # An upload the web process stores and a worker with no folder of the web's imports.
    queued_import = client.post("/api/imports/", {"file": upload, "source_name": "crm"})
    assert queued_import.status_code == 202, queued_import.json()
    imported = finished(client, queued_import["Location"], storage_worker)
    assert files_under(web_var / "uploads") == [] and files_under(worker_var / "uploads") == []
    (stored_upload,) = module_store.storage().list_files("uploads")
    assert stored_upload.endswith("/crm.csv")

    # A snapshot, a run the worker trains and publishes, an evaluation the worker scores from storage.
    snapshot = client.post("/api/snapshots/", {"name": "crm", "seed": 1}, format="json").json()
    queued_run = client.post("/api/training-runs/", {"snapshot": snapshot["id"], "kind": "tfidf"}, format="json")
    trained = finished(client, queued_run["Location"], storage_worker)
    promoted = client.post(f"/api/models/{trained['model_version']}/promote/", {"reason": "first"}, format="json")
    queued_evaluation = client.post(
        "/api/evaluation-runs/", {"model_version": trained["model_version"], "split": "test"}, format="json"
    )
    evaluated = finished(client, queued_evaluation["Location"], storage_worker)
    prediction = client.post("/api/predict", {"text": POSITIVE_TEXT}, format="json")

    assert (imported["rows_read"], imported["rows_created"]) == (80, 80)
    assert TrainingRun.objects.get(pk=trained["id"]).worker.startswith("storage-")
    assert promoted.status_code == 200, promoted.json()
    assert evaluated["accuracy"] is not None and evaluated["processed"] == snapshot["test_count"]
    assert prediction.status_code == 200 and prediction.json()["model_version"]["id"] == trained["model_version"]
    assert prediction.json()["predictions"][0]["label"] == "positive"
    # Each side holds its own verified copy of the model; neither read the other's folders.
    name = ModelVersion.objects.get(pk=trained["model_version"]).artifact_path
    assert MANIFEST_NAME in files_under(web_var / "artifact-cache" / name)
    assert MANIFEST_NAME in files_under(worker_var / "artifact-cache" / name)
    assert files_under(web_var / "artifacts") == []
