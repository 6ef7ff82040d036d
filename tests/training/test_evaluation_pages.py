"""Evaluation pages: the slice tables an analyst reads, the start form an ML admin uploads a file with, compare."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.common.roles import ANALYST, ML_ADMIN
from apps.training.evaluation_data import evaluation_dataset_create
from apps.training.models import EvaluationDataset, EvaluationRun
from apps.training.runners import evaluation_run_execute
from apps.training.services import evaluation_run_create
from tests.registry.factories import UserFactory, make_reviews, make_version, train_tfidf_artifact

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def tfidf_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tfidf_artifact(tmp_path_factory.mktemp("evaluation-pages-tfidf"))


@pytest.fixture(autouse=True)
def _static_files(static_files_as_in_development: None) -> None:
    """Pages link static files; served as in development."""


def client_for(role: str) -> Client:
    client = Client()
    client.force_login(UserFactory(username=role, roles=[role]))
    return client


def file_rows(count: int = 12) -> bytes:
    rows = []
    for n in range(count):
        positive = n % 2 == 1
        sentence = "A wonderful, moving film. " if positive else "A dreadful, boring film. "
        rows.append({"id": str(n), "text": sentence * (1 + n), "label": int(positive), "rating": 8 if positive else 3})
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def finished_evaluation(version: Any, name: str = "tickets.jsonl") -> EvaluationRun:
    dataset = evaluation_dataset_create(file=SimpleUploadedFile(name, file_rows()))
    evaluation = evaluation_run_create(model_version=version, dataset=dataset, enqueue=False)
    evaluation_run_execute(run_id=evaluation.pk)
    evaluation.refresh_from_db()
    return evaluation


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_the_evaluation_page_shows_metrics_the_matrix_with_its_reviews_and_each_slice_with_counts(
    tfidf_artifact: Path,
) -> None:
    evaluation = finished_evaluation(make_version(tfidf_artifact))

    page = client_for(ANALYST).get(f"/evaluations/{evaluation.pk}/").content.decode()
    text = text_of(page)

    assert f"Evaluation {evaluation.pk}" in text and "the uploaded file tickets.jsonl" in text
    assert f"/evaluations/{evaluation.pk}/cells/1/0/" in page, "each confusion cell links to its reviews"
    boundaries = evaluation.slices[0]["boundaries"]
    assert f"Quartile boundaries: {', '.join(map(str, boundaries))} tokens" in text
    for group in evaluation.slices:
        assert group["title"] in text
        for entry in group["slices"]:
            row = re.search(
                rf'data-slice="{re.escape(entry["value"])}">(.*?)</tr>',
                page[page.index(f'data-dimension="{group["dimension"]}"') :],
                re.S,
            )
            assert row is not None, (group["dimension"], entry["value"])
            cells = text_of(row.group(1)).split()
            assert str(entry["count"]) in cells and f"{entry['accuracy']:.4f}" in cells
    assert "3 / 10" in text and "8 / 10" in text and "eval-tickets" in text and "no origin split" in text


def test_an_ml_admin_starts_an_evaluation_on_an_uploaded_file_from_the_form(tfidf_artifact: Path) -> None:
    version = make_version(tfidf_artifact)
    client = client_for(ML_ADMIN)
    assert "Labelled file" in client.get("/evaluations/new/").content.decode()

    answer = client.post(
        "/evaluations/new/",
        {"model_version": version.pk, "split": "file", "file": SimpleUploadedFile("may.jsonl", file_rows(4))},
    )

    evaluation = EvaluationRun.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/evaluations/{evaluation.pk}/"
    assert (evaluation.split, evaluation.dataset.filename, evaluation.status) == ("file", "may.jsonl", "queued")
    page = text_of(client.get(answer["Location"]).content.decode())
    assert f"Evaluation {evaluation.pk} is queued" in page and "Queued" in page


def test_a_refused_file_is_shown_on_the_form_and_nothing_is_stored(tfidf_artifact: Path) -> None:
    version = make_version(tfidf_artifact)
    bad = SimpleUploadedFile("may.csv", b"review,sentiment\nGreat,positive\nNo label,\n")

    answer = client_for(ML_ADMIN).post("/evaluations/new/", {"model_version": version.pk, "split": "file", "file": bad})

    assert answer.status_code == 200
    assert "may.csv, review 2: no label." in text_of(answer.content.decode())
    assert not EvaluationRun.objects.exists() and not EvaluationDataset.objects.exists()


def test_analysts_see_evaluations_but_cannot_start_one(tfidf_artifact: Path) -> None:
    evaluation = finished_evaluation(make_version(tfidf_artifact))
    analyst = client_for(ANALYST)

    listing = text_of(analyst.get("/evaluations/").content.decode())
    refused = analyst.post("/evaluations/new/", {"model_version": evaluation.model_version_id, "split": "test"})

    assert f"Evaluation {evaluation.pk}" in listing and "New evaluation" not in listing
    assert refused.status_code == 403 and "Only ML admins may start evaluations" in refused.content.decode()
    assert Client().get(f"/evaluations/{evaluation.pk}/").status_code == 302


def test_compare_puts_two_evaluations_metrics_and_slices_side_by_side(tfidf_artifact: Path) -> None:
    make_reviews(2, labelled=True, seed=1)
    first = finished_evaluation(make_version(tfidf_artifact))
    second = finished_evaluation(make_version(tfidf_artifact), name="june.jsonl")

    compared = client_for(ANALYST).get(f"/compare/?evaluations={first.pk},{second.pk}").content.decode()
    text = text_of(compared)

    assert "Compare evaluations" in text
    assert "the uploaded file tickets.jsonl" in text and "the uploaded file june.jsonl" in text
    assert f"Evaluation {first.pk}" in text and f"Evaluation {second.pk}" in text
    rating = compared[compared.index('data-dimension="rating"') :]
    row = text_of(re.search(r'data-slice="8">(.*?)</tr>', rating, re.S).group(1))  # type: ignore[union-attr]
    accuracy = next(s for s in first.slices[1]["slices"] if s["value"] == "8")["accuracy"]
    assert row.count(f"{accuracy:.4f} (6)") == 2
    assert "review" in text and "every evaluation scored" in text
    runs = client_for(ANALYST).get("/compare/").content.decode()
    assert "Tick two to" in runs and "Compare evaluations instead" in runs


def test_the_admin_add_form_uploads_a_labelled_file_and_queues_its_evaluation(
    admin_client: Client, tfidf_artifact: Path
) -> None:
    version = make_version(tfidf_artifact)
    form = admin_client.get("/admin/training/evaluationrun/add/").content.decode()
    assert 'enctype="multipart/form-data"' in form and "Labelled file" in form

    admin_client.post(
        "/admin/training/evaluationrun/add/",
        {"model_version": version.pk, "split": "file", "file": SimpleUploadedFile("july.csv", b"text,label\nSo good,1\nSo bad,0\n")},
    )

    evaluation = EvaluationRun.objects.get()
    assert (evaluation.split, evaluation.status, evaluation.dataset.review_count) == ("file", "queued", 2)
    assert evaluation.dataset.source_name == "eval-july"
