"""Models and uploads in S3-compatible object storage, against moto's standalone server started by the tests.

What such an emulator cannot prove: how a real service behaves over a real network (latency, timeouts,
throttling, connections dropped part way), its consistency guarantees under concurrent writers (moto
answers from one process's memory, so every read sees the last write at once), IAM policies and
signatures (moto accepts any credentials), encryption, versioning and lifecycle rules, and multipart
uploads at their real part sizes and limits. It does prove that the platform speaks the S3 protocol
through s3fs as a real server expects, and what each process does with what it reads back.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.common.roles import INTEGRATION, ML_ADMIN
from apps.predictions.serving import predictor
from apps.registry.models import ModelVersion
from apps.registry.selectors import model_version_card
from apps.registry.services import (
    PromotionError,
    artifacts_publish,
    model_version_promote,
)
from apps.reviews.models import ImportJob
from apps.reviews.services import review_import
from apps.reviews.snapshots import snapshot_create
from apps.training.services import training_run_create
from apps.training.runners import training_run_execute
from tests.brokering import stand_in_for_task
from tests.conftest import REPO_ROOT
from tests.registry.factories import UserFactory, make_reviews, train_tfidf_artifact
from tests.storage.conftest import ObjectStore, files_under, use_object_store
from workers.ml.artifacts import (
    MANIFEST_NAME,
    ArtifactError,
    ArtifactNotReady,
    fetch_from_storage,
    publish_to_storage,
)
from workers.ml.inference import load_model
from workers.ml.storage import Storage, StorageError

POSITIVE_TEXT = "The acting was superb and the ending brilliant."


@pytest.fixture(scope="module")
def trained_tfidf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tfidf_artifact(tmp_path_factory.mktemp("storage-tfidf"))


@pytest.fixture
def model_folder(trained_tfidf: Path, tmp_path: Path) -> Path:
    """A fresh copy of a finished TF-IDF artifact folder: publishing moves or removes it."""
    return Path(shutil.copytree(trained_tfidf, tmp_path / "finished-model"))


@pytest.fixture
def web(
    settings: Any, object_store: ObjectStore, tmp_path: Path, static_files_as_in_development: None
) -> Iterator[ObjectStore]:
    use_object_store(settings, object_store, tmp_path / "web")
    predictor.clear()
    yield object_store
    predictor.clear()


def api_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(username="pipeline", roles=[ML_ADMIN, INTEGRATION]))
    return client


class WatchedStorage(Storage):
    """Object storage that lets a reader look just before the manifest goes up (every other file is there)."""

    def __init__(self, *args: Any, reader: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reader = reader
        self.seen: list[str] = []

    def put_file(self, local: Path, key: str) -> None:
        if key.endswith(f"/{MANIFEST_NAME}"):
            self.seen.append(self.reader())
        super().put_file(local, key)


def test_a_reader_that_looks_before_the_manifest_is_up_is_told_the_model_is_not_there_yet(
    object_store: ObjectStore, model_folder: Path, tmp_path: Path
) -> None:
    reader_cache = tmp_path / "reader-cache"
    storage_of_reader = object_store.storage("artifacts")
    files = sorted(path.name for path in model_folder.iterdir())

    def look() -> str:
        # Every model file is stored by now; only the manifest is missing.
        assert storage_of_reader.list_files("v1") == [name for name in files if name != MANIFEST_NAME]
        try:
            fetch_from_storage(storage_of_reader, "v1", reader_cache)
        except ArtifactNotReady as error:
            return str(error)
        return "loaded"

    writer = WatchedStorage(f"{object_store.url}/artifacts", endpoint_url=object_store.endpoint_url, reader=look)
    publish_to_storage(model_folder, writer, "v1")

    (refusal,) = writer.seen
    assert "has no manifest.json: the model is not published yet" in refusal
    assert files_under(reader_cache) == []  # nothing half-fetched was kept
    folder = fetch_from_storage(storage_of_reader, "v1", reader_cache)
    assert folder == reader_cache / "v1" and sorted(files_under(folder)) == files
    assert load_model(folder).predict([POSITIVE_TEXT])[0]["label"] == 1
    assert not model_folder.exists()  # published: the worker's local copy is gone, as after a rename


@pytest.mark.django_db
def test_the_web_predictor_answers_503_for_a_current_version_whose_manifest_is_not_up_yet(
    web: ObjectStore, model_folder: Path
) -> None:
    storage = web.storage("artifacts")
    for path in model_folder.iterdir():
        if path.name != MANIFEST_NAME:
            storage.put_file(path, f"v-partial/{path.name}")
    ModelVersion.objects.create(kind="tfidf", artifact_path="v-partial", is_current=True)

    response = api_client().post("/api/predict", {"text": POSITIVE_TEXT}, format="json")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "model_unavailable"
    assert "the model is not published yet" in error["message"]


@pytest.mark.django_db
def test_a_web_process_with_an_empty_cache_fetches_a_published_model_and_serves_it(
    web: ObjectStore, model_folder: Path, settings: Any
) -> None:
    where = artifacts_publish(folder=model_folder, name="v-served")
    version = ModelVersion.objects.create(kind="tfidf", artifact_path="v-served", test_accuracy=0.9)
    assert files_under(settings.ARTIFACT_CACHE_DIR) == []

    card = model_version_card(version=version)  # the card alone: the model is not fetched for it
    assert files_under(settings.ARTIFACT_CACHE_DIR) == []
    model_version_promote(version=version, by=None, reason="first model")
    response = api_client().post("/api/predict", {"text": POSITIVE_TEXT}, format="json")

    assert where == f"{web.url}/artifacts/v-served"
    assert card is not None and card.startswith("# Sentiment model: TF-IDF")
    assert response.status_code == 200, response.json()
    assert response.json()["model_version"]["id"] == version.pk
    assert response.json()["predictions"][0]["label"] == "positive"
    assert MANIFEST_NAME in files_under(Path(settings.ARTIFACT_CACHE_DIR) / "v-served")
    assert files_under(settings.ARTIFACT_ROOT) == []  # nothing of the model lies in the local artifact folder


def corrupt(storage: Storage, key: str) -> None:
    """Change one byte of a stored object, as a faulty copy or a careless upload would."""
    data = bytearray(storage.read_bytes(key))
    data[-1] ^= 0xFF
    storage.write_bytes(key, bytes(data))


def test_a_corrupted_object_is_refused_by_its_checksum_and_nothing_of_it_is_cached(
    object_store: ObjectStore, model_folder: Path, tmp_path: Path
) -> None:
    storage = object_store.storage("artifacts")
    publish_to_storage(model_folder, storage, "v-bad")
    corrupt(storage, "v-bad/weights.safetensors")

    with pytest.raises(ArtifactError) as refused:
        fetch_from_storage(storage, "v-bad", tmp_path / "cache")

    assert str(refused.value) == (
        f"{object_store.url}/artifacts/v-bad/weights.safetensors does not match the checksum its manifest records: "
        "the stored object was changed or damaged after the model was published, so the model is refused. "
        "Restore the object from a backup, or retrain the model."
    )
    assert files_under(tmp_path / "cache") == []


@pytest.mark.django_db
def test_a_version_with_a_corrupted_object_is_neither_promoted_nor_served(
    web: ObjectStore, model_folder: Path, settings: Any
) -> None:
    artifacts_publish(folder=model_folder, name="v-bad")
    corrupt(web.storage("artifacts"), "v-bad/vocabulary.json")
    version = ModelVersion.objects.create(kind="tfidf", artifact_path="v-bad", test_accuracy=0.9)

    with pytest.raises(PromotionError) as refused:
        model_version_promote(version=version, by=None, reason="try")
    ModelVersion.objects.filter(pk=version.pk).update(is_current=True)  # as if it had been promoted before
    response = api_client().post("/api/predict", {"text": POSITIVE_TEXT}, format="json")

    assert "failed their integrity check" in str(refused.value)
    assert "vocabulary.json does not match the checksum its manifest records" in str(refused.value)
    assert response.status_code == 503
    assert "vocabulary.json does not match the checksum" in response.json()["error"]["message"]
    assert files_under(settings.ARTIFACT_CACHE_DIR) == []


def test_a_cached_copy_changed_on_disk_is_refused_when_it_is_loaded(
    object_store: ObjectStore, model_folder: Path, tmp_path: Path
) -> None:
    storage = object_store.storage("artifacts")
    publish_to_storage(model_folder, storage, "v1")
    folder = fetch_from_storage(storage, "v1", tmp_path / "cache")
    weights = folder / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")

    with pytest.raises(ArtifactError, match="Checksum mismatch for weights.safetensors"):
        load_model(folder)


def test_a_name_is_published_once_and_names_that_leave_the_storage_are_refused(
    object_store: ObjectStore, model_folder: Path, trained_tfidf: Path, tmp_path: Path
) -> None:
    storage = object_store.storage("artifacts")
    publish_to_storage(model_folder, storage, "v1")
    again = Path(shutil.copytree(trained_tfidf, tmp_path / "again"))

    with pytest.raises(ArtifactError, match="is already published; publish each model under a new name"):
        publish_to_storage(again, storage, "v1")
    for name in ("../elsewhere", "/etc", "a/../../b"):
        with pytest.raises(StorageError, match="is not a name inside the storage"):
            fetch_from_storage(storage, name, tmp_path / "cache")
    assert again.is_dir()  # a refused publication leaves the folder where it was


def test_the_local_folder_is_still_the_default_and_publishing_there_is_one_rename(
    model_folder: Path, tmp_path: Path
) -> None:
    storage = Storage(tmp_path / "artifacts")
    publish_to_storage(model_folder, storage, "v1")

    assert storage.is_local and not model_folder.exists()
    assert fetch_from_storage(storage, "v1", tmp_path / "cache") == tmp_path / "artifacts" / "v1"
    assert files_under(tmp_path / "cache") == []


@pytest.mark.django_db
def test_an_uploaded_import_file_waits_in_object_storage_not_in_a_local_folder(
    web: ObjectStore, settings: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in_for_task(monkeypatch, "reviews.run_import", lambda **kwargs: None)
    upload = SimpleUploadedFile("kaggle.csv", b"review,sentiment\nA fine film.,positive\nDull.,negative\n", "text/csv")

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client().post("/api/imports/", {"file": upload, "source_name": "kaggle"})
    job = ImportJob.objects.get(pk=response.json()["id"])
    stored = web.storage("uploads").key_of(job.source)
    review_import(source=job.source, source_name="kaggle", job=job)  # what the worker does

    assert response.status_code == 202
    assert stored is not None and stored.endswith("/kaggle.csv")
    assert files_under(settings.IMPORT_UPLOAD_DIR) == []
    status = api_client().get(f"/api/imports/{job.pk}/").json()
    assert (status["status"], status["rows_read"], status["rows_created"]) == ("succeeded", 2, 2)


def test_a_storage_url_that_is_not_object_storage_stops_the_platform_with_a_message() -> None:
    env = {"SECRET_KEY": "x", "ARTIFACT_STORAGE_URL": "https://bucket.example/prefix", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO_ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "sentimentsite.settings"}, capture_output=True, text=True,
        check=False,
    )

    assert result.returncode != 0
    assert "ARTIFACT_STORAGE_URL='https://bucket.example/prefix' is not an object storage URL" in result.stderr



@pytest.mark.django_db
def test_a_run_whose_upload_fails_part_way_fails_and_leaves_nothing_in_storage(
    web: ObjectStore, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_reviews(60, labelled=True)
    snapshot = snapshot_create(name="sixty", train_fraction=0.66, validation_fraction=0.17, test_fraction=0.17)
    run = training_run_create(snapshot=snapshot, kind="tfidf", enqueue=False)
    uploaded: list[str] = []
    put_file = Storage.put_file

    def lose_the_connection_at_the_manifest(self: Storage, local: Path, key: str) -> None:
        if key.endswith(f"/{MANIFEST_NAME}"):
            raise StorageError(f"Could not write {self.url_of(key)}: Connection reset by peer")
        uploaded.append(key)
        put_file(self, local, key)

    monkeypatch.setattr(Storage, "put_file", lose_the_connection_at_the_manifest)
    training_run_execute(run_id=run.pk, worker="test-worker")
    run.refresh_from_db()

    assert run.status == "failed"
    assert "Connection reset by peer" in run.error
    assert len(uploaded) >= 2  # the model files went up before the manifest failed
    assert web.storage().list_files("artifacts") == []  # and were removed again
    assert not ModelVersion.objects.filter(training_run=run).exists()
    assert files_under(settings.ARTIFACT_ROOT) == []


@pytest.mark.django_db
def test_a_web_process_that_cannot_reach_its_storage_answers_503_and_says_what_to_check(
    web: ObjectStore, settings: Any
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.ARTIFACT_STORAGE_ENDPOINT_URL = f"http://127.0.0.1:{port}"
    ModelVersion.objects.create(kind="tfidf", artifact_path="v-unreachable", is_current=True)

    response = api_client().post("/api/predict", {"text": POSITIVE_TEXT}, format="json")

    assert response.status_code == 503
    message = response.json()["error"]["message"]
    assert f"Could not read {web.url}/artifacts/v-unreachable/manifest.json" in message
    assert "Check that the storage server answers (ARTIFACT_STORAGE_ENDPOINT_URL)" in message
