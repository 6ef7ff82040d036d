"""Adversarial checks of the artifact storage: what a tampered bucket or cache cannot make a reader do.

A manifest is written by whoever can write to the bucket; a reader must never let its names choose where
files land on the reader's own disk, and must refuse a model whose objects are gone or changed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.brokering import stand_in_for_task
from tests.registry.factories import train_tfidf_artifact
from tests.storage.conftest import ObjectStore
from workers.ml.artifacts import MANIFEST_NAME, ArtifactError, fetch_from_storage, publish_to_storage
from workers.ml.storage import Storage, StorageError


@pytest.fixture(scope="module")
def trained_tfidf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tfidf_artifact(tmp_path_factory.mktemp("adversarial-tfidf"))


@pytest.fixture
def published(trained_tfidf: Path, tmp_path: Path, object_store: ObjectStore) -> tuple[Storage, str]:
    storage = object_store.storage("artifacts")
    publish_to_storage(Path(shutil.copytree(trained_tfidf, tmp_path / "model")), storage, "v1")
    return storage, "v1"


def _tamper_manifest(storage: Storage, name: str, listed: str, payload: bytes) -> None:
    """Add an object `payload` to the stored model and list it in its manifest under the name `listed`."""
    import hashlib

    manifest = json.loads(storage.read_bytes(f"{name}/{MANIFEST_NAME}"))
    manifest["files"][listed] = {"sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload)}
    try:
        storage.write_bytes(f"{name}/{listed.lstrip('/')}", payload)
    except StorageError:
        pass  # a name with '..' cannot even be stored; the manifest can still list it
    storage.write_bytes(f"{name}/{MANIFEST_NAME}", json.dumps(manifest).encode())


@pytest.mark.parametrize("absolute", [True, False])
def test_a_manifest_naming_an_absolute_path_writes_nothing_outside_the_cache(
    published: tuple[Storage, str], tmp_path: Path, absolute: bool
) -> None:
    storage, name = published
    victim = tmp_path / "outside" / "victim.txt"
    victim.parent.mkdir()
    victim.write_text("original")
    listed = str(victim) if absolute else f"x/{'../' * 12}{str(victim).lstrip('/')}"
    _tamper_manifest(storage, name, listed, b"written by whoever could write to the bucket")
    with pytest.raises(ArtifactError, match="not a file of the model"):
        fetch_from_storage(storage, name, tmp_path / "cache")
    assert victim.read_text() == "original"
    assert not (tmp_path / "cache" / name).exists()


def test_an_object_deleted_after_publishing_is_refused_by_name(published: tuple[Storage, str], tmp_path: Path) -> None:
    storage, name = published
    storage.remove(f"{name}/weights.safetensors")
    with pytest.raises(ArtifactError, match="weights.safetensors is missing"):
        fetch_from_storage(storage, name, tmp_path / "cache")
    assert not (tmp_path / "cache" / name).exists()


@pytest.mark.parametrize("manifest", [b"[]", b"{\"files\": []}", b"\xff\xfe not json", b"{\"files\": {\"a\": 3}}"])
def test_a_malformed_manifest_is_refused_with_a_message(
    published: tuple[Storage, str], tmp_path: Path, manifest: bytes
) -> None:
    storage, name = published
    storage.write_bytes(f"{name}/{MANIFEST_NAME}", manifest)
    with pytest.raises(ArtifactError):
        fetch_from_storage(storage, name, tmp_path / "cache")
    assert not (tmp_path / "cache" / name).exists()


@pytest.mark.parametrize("damage", ["file-deleted", "file-truncated", "manifest-deleted", "manifest-garbled"])
def test_a_damaged_cached_copy_is_fetched_again_instead_of_failing_for_ever(
    published: tuple[Storage, str], tmp_path: Path, damage: str
) -> None:
    from workers.ml.inference import load_model

    storage, name = published
    cache = tmp_path / "cache"
    cached = fetch_from_storage(storage, name, cache)
    weights = cached / "weights.safetensors"
    if damage == "file-deleted":
        weights.unlink()
    elif damage == "file-truncated":
        weights.write_bytes(weights.read_bytes()[:10])
    elif damage == "manifest-deleted":
        (cached / MANIFEST_NAME).unlink()
    else:
        (cached / MANIFEST_NAME).write_text("{")

    again = fetch_from_storage(storage, name, cache)

    assert again == cached
    assert load_model(again).predict(["a brilliant film"])[0]["label"] in (0, 1)
    assert sorted(path.name for path in cache.iterdir()) == [name]  # nothing left beside it


def test_a_cached_file_changed_in_place_is_still_refused_when_loaded(
    published: tuple[Storage, str], tmp_path: Path
) -> None:
    from workers.ml.inference import load_model

    storage, name = published
    cached = fetch_from_storage(storage, name, tmp_path / "cache")
    weights = cached / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))

    with pytest.raises(ArtifactError, match="Checksum mismatch for weights.safetensors"):
        load_model(fetch_from_storage(storage, name, tmp_path / "cache"))


def test_a_huge_manifest_is_refused_without_reading_it_whole(
    published: tuple[Storage, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import workers.ml.artifacts as artifacts

    storage, name = published
    monkeypatch.setattr(artifacts, "MAX_MANIFEST_BYTES", 4096)  # the same check as at 8 MiB, with less to upload
    manifest = json.loads(storage.read_bytes(f"{name}/{MANIFEST_NAME}"))
    manifest["padding"] = "x" * 100_000
    storage.write_bytes(f"{name}/{MANIFEST_NAME}", json.dumps(manifest).encode())
    read: list[int] = []
    original = Storage.read_bytes

    def counting(self: Storage, key: str, **options: object) -> bytes:
        data = original(self, key, **options)  # type: ignore[arg-type]
        read.append(len(data))
        return data

    monkeypatch.setattr(Storage, "read_bytes", counting)

    with pytest.raises(ArtifactError, match="larger than"):
        fetch_from_storage(storage, name, tmp_path / "cache")
    assert read and max(read) <= 4097
    assert not (tmp_path / "cache" / name).exists()


@pytest.mark.parametrize("listed", ["../outside.txt", "/etc/hostname", "link.txt"])
def test_a_local_folder_listing_a_file_outside_it_is_refused_and_never_uploaded(
    trained_tfidf: Path, tmp_path: Path, object_store: ObjectStore, listed: str
) -> None:
    import hashlib

    from workers.ml.inference import load_model

    folder = Path(shutil.copytree(trained_tfidf, tmp_path / "model"))
    outside = tmp_path / "outside.txt"
    outside.write_text("a file beside the model")
    if listed == "link.txt":
        (folder / listed).symlink_to(outside)  # inside by name, outside in fact
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    data = outside.read_bytes() if listed != "/etc/hostname" else Path(listed).read_bytes()
    manifest["files"][listed] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))

    with pytest.raises(ArtifactError, match="not a file inside the artifact folder"):
        load_model(folder)
    storage = object_store.storage("artifacts")
    with pytest.raises(ArtifactError, match="not a file inside the artifact folder"):
        publish_to_storage(folder, storage, "v-outside")
    assert storage.list_files("v-outside") == []


@pytest.mark.django_db
@pytest.mark.parametrize("filename", ["C:\\Users\\ann\\reviews.csv", "..\\..\\reviews.csv", "re\nviews.csv", "re\x00views.csv", "re/../views.csv"])
def test_an_upload_named_with_a_windows_path_or_odd_characters_is_stored_under_a_safe_name(
    settings: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, filename: str,
    django_capture_on_commit_callbacks: object,
) -> None:  # fmt: skip
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    from apps.common.roles import INTEGRATION, ML_ADMIN
    from apps.reviews.models import ImportJob
    from tests.registry.factories import UserFactory

    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"  # type: ignore[attr-defined]
    stand_in_for_task(monkeypatch, "reviews.run_import", lambda **kwargs: None)
    client = APIClient()
    client.force_authenticate(UserFactory(username="uploader", roles=[ML_ADMIN, INTEGRATION]))
    upload = SimpleUploadedFile(filename, b"review,sentiment\nA fine film.,positive\n", "text/csv")

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[attr-defined]
        response = client.post("/api/imports/", {"file": upload, "source_name": "kaggle"})

    assert response.status_code == 202, response.content
    source = Path(ImportJob.objects.get(pk=response.json()["id"]).source)
    assert source.is_file() and source.resolve().is_relative_to((tmp_path / "uploads").resolve())
    assert source.name.endswith("views.csv") and "\x00" not in source.name and "\\" not in source.name and "\n" not in source.name


def test_a_model_card_missing_from_a_damaged_cached_copy_is_read_from_storage(
    published: tuple[Storage, str], tmp_path: Path
) -> None:
    from workers.ml.artifacts import MODEL_CARD_NAME, read_stored_file

    storage, name = published
    cached = fetch_from_storage(storage, name, tmp_path / "cache")
    (cached / MODEL_CARD_NAME).unlink()

    card = read_stored_file(storage, name, MODEL_CARD_NAME, tmp_path / "cache")

    assert card == storage.read_bytes(f"{name}/{MODEL_CARD_NAME}") and card.startswith(b"# Sentiment model")


@pytest.mark.parametrize("damaged", [False, True])
def test_readers_fetching_one_model_at_once_each_get_a_whole_copy_and_leave_nothing_beside_it(
    published: tuple[Storage, str], tmp_path: Path, damaged: bool
) -> None:
    import threading

    from workers.ml.artifacts import verify_artifacts

    storage, name = published
    cache = tmp_path / "cache"
    if damaged:
        (fetch_from_storage(storage, name, cache) / "weights.safetensors").unlink()
    barrier = threading.Barrier(4)
    results: list[object] = []

    def fetch() -> None:
        barrier.wait(timeout=30)
        try:
            results.append(fetch_from_storage(storage, name, cache))
        except Exception as error:  # noqa: BLE001 - the assertion below shows it
            results.append(error)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert results == [cache / name] * 4
    assert verify_artifacts(cache / name) == []
    assert sorted(path.name for path in cache.iterdir()) == [name]


def test_an_object_larger_than_its_manifest_says_is_refused_before_it_is_downloaded(
    published: tuple[Storage, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage, name = published
    storage.write_bytes(f"{name}/weights.safetensors", b"\0" * (2 << 20))
    downloaded: list[str] = []
    original = Storage.get_file

    def recording(self: Storage, key: str, local: Path) -> None:
        downloaded.append(key)
        original(self, key, local)

    monkeypatch.setattr(Storage, "get_file", recording)

    with pytest.raises(ArtifactError, match="weights.safetensors does not match the checksum"):
        fetch_from_storage(storage, name, tmp_path / "cache")
    assert f"{name}/weights.safetensors" not in downloaded
    assert not (tmp_path / "cache" / name).exists()
