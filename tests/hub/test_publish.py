"""Publishing a version to the Hugging Face Hub, through huggingface_hub's own client.

The Hub here is the recording server of tests/hub/conftest.py (HF_ENDPOINT points at it): these tests check
what our code asks the client to send and that the folder it sends is a standard Hub model, not how the
real Hub answers. The job runs in this process with ``HubRunner.handle``, as a worker of the default queue
would run it.
"""

from __future__ import annotations

import random
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from apps.common.choices import JobStatus
from apps.common.roles import ANALYST, ML_ADMIN
from apps.common.services import api_token_create
from apps.registry.hub import hub_publish_submit
from apps.registry.models import HubJob, ModelVersion
from apps.registry.runners import HubRunner
from apps.reviews.models import DatasetSnapshot
from tests.hub.conftest import REVIEWS, RecordingHub
from tests.registry.factories import (
    SnapshotFactory,
    UserFactory,
    make_version,
    train_tfidf_artifact,
)
from workers.ml import Example, SplitData, TrainConfig
from workers.ml.training import train
from workers.ml.hub import HubError
from workers.ml.inference import load_model

pytestmark = pytest.mark.django_db

REPO = "platform-team/imdb-sentiment"


def _examples(count: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    return [Example(seed * 100 + n, f"{rng.choice(REVIEWS[1 - n % 2].split(','))} review {n}", n % 2) for n in range(count)]


@pytest.fixture(scope="module")
def transformer_artifact(architecture_bases: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = SplitData(train=_examples(8, 1), validation=_examples(4, 2), test=_examples(6, 3))
    config = TrainConfig(base_model=str(architecture_bases["distilbert"]), epochs=1, batch_size=8, max_length=32)
    lineage = {"snapshot_id": 3, "snapshot_name": "IMDb gold", "snapshot_content_hash": "9f2d" * 16}
    return train(config, data, tmp_path_factory.mktemp("publish") / "model", lineage=lineage).artifact_dir


@pytest.fixture
def version(transformer_artifact: Path) -> ModelVersion:
    snapshot: DatasetSnapshot = SnapshotFactory()
    made = make_version(transformer_artifact, kind="transformer", snapshot=snapshot, base_model="distilbert-base-uncased")
    made.manifest = load_model(transformer_artifact).manifest
    made.save(update_fields=["manifest"])
    return made


def _card_metadata(card: str) -> dict[str, Any]:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_a_published_version_goes_up_as_a_standard_hub_model_that_pipeline_answers_as_the_platform_does(
    recording_hub: RecordingHub, version: ModelVersion, transformer_artifact: Path, tmp_path: Path
) -> None:
    job = hub_publish_submit(version=version, repo_id=REPO, private=True, enqueue=False)
    HubRunner.handle(job.pk)
    job.refresh_from_db()

    assert job.status == JobStatus.SUCCEEDED, f"{job.error}\n{job.log_tail}"
    assert job.result_url == f"{recording_hub.url}/{REPO}" and job.commit_oid == "0123abcd" * 5
    created = [call for call in recording_hub.calls if call.path == "/api/repos/create"]
    assert [call.json() for call in created] == [
        {"name": "imdb-sentiment", "organization": "platform-team", "visibility": "private", "type": "model"}
    ]
    assert all(call.headers["authorization"] == "Bearer hf_test_token_for_the_recording_server" for call in recording_hub.calls)
    files = recording_hub.committed_files()
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"} <= set(files)
    assert "manifest.json" not in files

    metadata = _card_metadata(files["README.md"].decode())
    assert metadata["pipeline_tag"] == "text-classification" and metadata["license"] == "apache-2.0"
    assert metadata["base_model"] == "distilbert-base-uncased"
    assert metadata["datasets"] == ["stanfordnlp/imdb"]
    [index] = metadata["model-index"]
    assert index["name"] == REPO
    [accuracy] = [result for result in index["results"] if result["metrics"][0]["type"] == "accuracy"]
    assert accuracy["dataset"]["revision"] == "9f2d" * 16 and accuracy["dataset"]["split"] == "test"
    assert accuracy["metrics"][0]["value"] == pytest.approx(version.manifest["metrics"]["accuracy"])

    received = tmp_path / "received"
    for name, content in files.items():
        (received / name).parent.mkdir(parents=True, exist_ok=True)
        (received / name).write_bytes(content)
    from transformers import pipeline

    answers = pipeline("text-classification", model=str(received), top_k=None)(REVIEWS, truncation=True)
    ours = load_model(transformer_artifact).predict(REVIEWS)
    for answer, platform in zip(answers, ours):
        scores = {row["label"]: row["score"] for row in answer}
        assert max(scores, key=scores.get) == ("positive" if platform["label"] else "negative")
        assert [scores["negative"], scores["positive"]] == pytest.approx(platform["probabilities"], abs=1e-5)


def test_publishing_is_refused_with_a_clear_message_and_nothing_queued(
    recording_hub: RecordingHub, version: ModelVersion, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tfidf = make_version(train_tfidf_artifact(tmp_path), kind="tfidf")
    three_labels = make_version(tmp_path, kind="transformer")
    three_labels.manifest = {"kind": "transformer", "label_map": {"0": "negative", "1": "neutral", "2": "positive"}}
    three_labels.save(update_fields=["manifest"])

    refusals = {}
    for name, target, repo_id in [
        ("no slash", version, "imdb-sentiment"),
        ("three parts", version, "a/b/c"),
        ("a space", version, "platform team/imdb"),
        ("a double dash", version, "team/imdb--sentiment"),
        ("tfidf", tfidf, REPO),
        ("three labels", three_labels, REPO),
    ]:
        with pytest.raises(HubError) as refused:
            hub_publish_submit(version=target, repo_id=repo_id, private=True)
        refusals[name] = str(refused.value)
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HubError) as no_token:
        hub_publish_submit(version=version, repo_id=REPO, private=True)

    assert "No Hugging Face token: set HF_TOKEN" in str(no_token.value)
    assert all("owner/name" in refusals[name] or "not a valid Hub repository id" in refusals[name]
               for name in ("no slash", "three parts", "a space", "a double dash"))  # fmt: skip
    assert "TF-IDF + logistic regression model, not a transformer" in refusals["tfidf"]
    assert "not the two labels 0 negative and 1 positive" in refusals["three labels"]
    assert HubJob.objects.count() == 0 and recording_hub.calls == []


def test_a_refusal_by_the_hub_fails_the_job_with_the_hubs_reason(recording_hub: RecordingHub, version: ModelVersion) -> None:
    recording_hub.failures["/api/repos/create"] = 403
    job = hub_publish_submit(version=version, repo_id=REPO, private=False, enqueue=False)

    HubRunner.handle(job.pk)
    job.refresh_from_db()

    assert job.status == JobStatus.FAILED
    assert job.error.startswith("The Hub refused the upload (403)")
    assert not any("/commit/" in call.path for call in recording_hub.calls)


def _client(role: str) -> APIClient:
    user = UserFactory(username=role, roles=[role])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name='hub')[1]}")
    return client


def test_an_ml_admin_publishes_through_the_api_as_a_job_on_the_default_queue(
    recording_hub: RecordingHub, version: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    admin, analyst = _client(ML_ADMIN), _client(ANALYST)

    forbidden = analyst.post(f"/api/models/{version.pk}/publish/", {"repo_id": REPO}, format="json")
    malformed = admin.post(f"/api/models/{version.pk}/publish/", {"repo_id": "not a repo"}, format="json")
    with django_capture_on_commit_callbacks(execute=False) as sent:
        accepted = admin.post(f"/api/models/{version.pk}/publish/", {"repo_id": REPO, "private": False}, format="json")
    job = HubJob.objects.get()
    HubRunner.handle(job.pk)
    followed = analyst.get(f"/api/models/hub-jobs/{job.pk}/").json()

    assert forbidden.status_code == 403
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "hub_refused"
    assert "not a Hub repository id" in malformed.json()["error"]["message"]
    assert accepted.status_code == 202 and accepted.json()["status"] == "queued" and len(sent) == 1
    assert HubRunner.queue_for(job) == "default"
    assert followed["status"] == "succeeded" and followed["result_url"] == f"{recording_hub.url}/{REPO}"
    assert [call.json()["visibility"] for call in recording_hub.calls if call.path == "/api/repos/create"] == ["public"]


def test_the_command_publishes_and_refuses_a_tfidf_version(
    recording_hub: RecordingHub, version: ModelVersion, tmp_path: Path
) -> None:
    tfidf = make_version(train_tfidf_artifact(tmp_path), kind="tfidf")
    out = StringIO()

    call_command("hub_publish", str(version.pk), REPO, "--now", stdout=out)
    with pytest.raises(CommandError, match="not a transformer"):
        call_command("hub_publish", str(tfidf.pk), REPO, "--now")

    assert f"Published model version {version.pk} to {recording_hub.url}/{REPO}" in out.getvalue()


def test_an_ml_admin_registers_a_model_through_the_api_as_a_job_on_the_gpu_queue(
    django_capture_on_commit_callbacks: Any,
) -> None:
    from apps.reviews.snapshots import snapshot_create
    from tests.training.conftest import make_reviews

    make_reviews(20)
    snapshot = snapshot_create(name="twenty", train_fraction=0.6, validation_fraction=0.2, test_fraction=0.2)
    admin = _client(ML_ADMIN)

    malformed = admin.post("/api/models/register/", {"source": "not/a/model", "snapshot": snapshot.pk}, format="json")
    no_snapshot = admin.post("/api/models/register/", {"source": "acme/model", "snapshot": 999_999}, format="json")
    with django_capture_on_commit_callbacks(execute=False) as sent:
        accepted = admin.post("/api/models/register/", {"source": "acme/distilbert-imdb", "snapshot": snapshot.pk}, format="json")

    assert malformed.status_code == 400 and "owner/name" in malformed.json()["error"]["message"]
    assert no_snapshot.status_code == 400 and "snapshot" in no_snapshot.json()["error"]["fields"]
    assert accepted.status_code == 202 and len(sent) == 1
    body = accepted.json()
    assert (body["action"], body["source"], body["snapshot"], body["status"]) == ("register", "acme/distilbert-imdb", snapshot.pk, "queued")
    assert HubRunner.queue_for(HubJob.objects.get(pk=body["id"])) == "gpu"
