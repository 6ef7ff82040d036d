"""The evaluation API: upload a labelled file, evaluate on it or on an import, read the slices; roles and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.common.choices import JobStatus
from apps.common.roles import ANALYST, ML_ADMIN
from apps.common.services import api_token_create
from apps.reviews.models import ImportJob, Review
from apps.training.models import EvaluationDataset, EvaluationRun
from apps.training.runners import evaluation_run_execute
from tests.registry.factories import UserFactory, make_reviews, make_version, train_tfidf_artifact

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def tfidf_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tfidf_artifact(tmp_path_factory.mktemp("evaluation-api-tfidf"))


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any, static_files_as_in_development: None) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def client_for(role: str) -> APIClient:
    user = UserFactory(username=role, roles=[role])
    _, key = api_token_create(user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def labelled_file(name: str = "tickets.jsonl") -> SimpleUploadedFile:
    rows = [
        {"text": "A wonderful, moving film." * (1 + n), "label": n % 2, "rating": 10 if n % 2 else 1}
        for n in range(8)
    ]
    rows = [{**row, "label": "positive" if row["label"] else "negative"} for row in rows]
    for n, row in enumerate(rows):
        if row["label"] == "negative":
            row["text"] = "A dreadful, boring film. " * (1 + n)
    return SimpleUploadedFile(name, "".join(json.dumps(row) + "\n" for row in rows).encode())


def test_an_ml_admin_uploads_a_file_evaluates_a_version_on_it_and_reads_its_slices(tfidf_artifact: Path) -> None:
    admin = client_for(ML_ADMIN)
    version = make_version(tfidf_artifact)

    uploaded = admin.post("/api/evaluation-datasets/", {"file": labelled_file()}, format="multipart")
    assert uploaded.status_code == 201, uploaded.json()
    dataset = uploaded.json()
    assert (dataset["source_name"], dataset["review_count"], dataset["positive_count"]) == ("eval-tickets", 8, 4)
    assert uploaded["Location"] == f"/api/evaluation-datasets/{dataset['id']}/"

    queued = admin.post("/api/evaluation-runs/", {"model_version": version.pk, "dataset": dataset["id"]}, format="json")
    assert queued.status_code == 202, queued.json()
    body = queued.json()
    assert (body["status"], body["split"], body["dataset"], body["snapshot"], body["slices"]) == (
        "queued", "file", dataset["id"], None, []
    )

    evaluation_run_execute(run_id=body["id"])
    detail = admin.get(f"/api/evaluation-runs/{body['id']}/").json()
    assert detail["status"] == "succeeded"
    assert sum(map(sum, detail["confusion_matrix"])) == 8
    slices = {group["dimension"]: group for group in detail["slices"]}
    assert set(slices) == {"length", "rating", "source", "origin_split"}
    assert len(slices["length"]["boundaries"]) == 3
    assert sum(entry["count"] for entry in slices["length"]["slices"]) == 8
    assert [(entry["value"], entry["count"]) for entry in slices["rating"]["slices"]] == [("1", 4), ("10", 4)]
    listed = admin.get("/api/evaluation-runs/").json()["results"][0]
    assert listed["dataset"] == dataset["id"] and "slices" not in listed


def test_an_import_is_evaluated_by_its_id(tfidf_artifact: Path) -> None:
    admin = client_for(ML_ADMIN)
    version = make_version(tfidf_artifact)
    job = ImportJob.objects.create(source="a.csv", source_name="a", status=JobStatus.SUCCEEDED)
    make_reviews(6, labelled=True, seed=3, source="a", import_job=job)
    running = ImportJob.objects.create(source="b.csv", source_name="b", status=JobStatus.RUNNING)

    queued = admin.post("/api/evaluation-runs/", {"model_version": version.pk, "review_import": job.pk}, format="json")
    assert queued.status_code == 202, queued.json()
    assert (queued.json()["split"], queued.json()["review_import"]) == ("import", job.pk)

    refused = admin.post("/api/evaluation-runs/", {"model_version": version.pk, "review_import": running.pk}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"]["review_import"] == (
        f"Import {running.pk} is running: only a finished import has reviews."
    )
    unknown = admin.post("/api/evaluation-runs/", {"model_version": version.pk, "review_import": 999999}, format="json")
    assert unknown.status_code == 400 and "review_import" in unknown.json()["error"]["fields"]
    assert EvaluationRun.objects.count() == 1


def test_a_bad_file_is_a_400_naming_the_line_and_a_large_one_a_413(settings: Any) -> None:
    admin = client_for(ML_ADMIN)
    bad = SimpleUploadedFile("t.csv", b"review,sentiment\nGreat film,positive\nNo label at all,\n")

    refused = admin.post("/api/evaluation-datasets/", {"file": bad}, format="multipart")

    assert refused.status_code == 400
    assert refused.json()["error"]["fields"]["file"].startswith("t.csv, review 2: no label.")
    settings.IMPORT_MAX_UPLOAD_BYTES = 50
    large = admin.post("/api/evaluation-datasets/", {"file": labelled_file()}, format="multipart")
    assert large.status_code == 413
    assert "largest evaluation file" in large.json()["error"]["message"]
    assert not EvaluationDataset.objects.exists() and not Review.objects.exists()


def test_analysts_read_evaluations_and_files_but_only_ml_admins_upload_or_start_them(tfidf_artifact: Path) -> None:
    analyst = client_for(ANALYST)
    version = make_version(tfidf_artifact)

    upload = analyst.post("/api/evaluation-datasets/", {"file": labelled_file()}, format="multipart")
    start = analyst.post("/api/evaluation-runs/", {"model_version": version.pk}, format="json")

    assert (upload.status_code, start.status_code) == (403, 403)
    assert "ML admins" in upload.json()["error"]["message"]
    assert analyst.get("/api/evaluation-datasets/").status_code == 200
    assert APIClient().get("/api/evaluation-datasets/").status_code == 401
    assert not EvaluationDataset.objects.exists() and not EvaluationRun.objects.exists()


def test_the_schema_declares_the_slices_and_the_upload() -> None:
    schema = client_for(ANALYST).get("/api/schema/?format=json").json()

    detail = schema["components"]["schemas"]["EvaluationRunDetail"]["properties"]
    assert detail["slices"]["type"] == "array" and detail["slices"]["items"]["$ref"].endswith("/SliceGroup")
    group = schema["components"]["schemas"]["SliceGroup"]["properties"]
    assert {"dimension", "title", "boundaries", "slices"} <= set(group)
    assert {"count", "accuracy", "label"} <= set(schema["components"]["schemas"]["Slice"]["properties"])
    upload = schema["paths"]["/api/evaluation-datasets/"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    create = schema["components"]["schemas"]["EvaluationRunCreateRequest"]["properties"]
    assert {"review_import", "dataset"} <= set(create)
