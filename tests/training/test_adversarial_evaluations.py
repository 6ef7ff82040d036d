"""Attacks on evaluations on uploaded files: ids reused, markup in texts and names, deleting what they hold, CSRF."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from apps.common.roles import ML_ADMIN
from apps.reviews.models import Review
from apps.training.evaluation_data import (
    EvaluationDataError,
    evaluation_dataset_create,
    evaluation_dataset_store,
    read_evaluation_file,
)
from apps.training.models import EvaluationDataset, EvaluationRun
from apps.training.runners import evaluation_run_execute
from apps.training.services import evaluation_run_create
from tests.registry.factories import UserFactory, make_version, train_tfidf_artifact

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def tfidf_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tfidf_artifact(tmp_path_factory.mktemp("adversarial-evaluation-tfidf"))


@pytest.fixture(autouse=True)
def _static_files(static_files_as_in_development: None) -> None:
    """Pages link static files; served as in development."""


def ml_admin() -> Any:
    return UserFactory(username="mladmin", roles=[ML_ADMIN])


def test_one_id_given_to_two_different_reviews_is_refused_instead_of_dropping_the_second() -> None:
    rows = b"id,review,sentiment\n1,A wonderful film.,positive\n1,Another review altogether.,positive\n"

    with pytest.raises(EvaluationDataError, match="review 2 has the id 1 of review 1 but another text"):
        evaluation_dataset_create(file=SimpleUploadedFile("ids.csv", rows))

    assert not EvaluationDataset.objects.exists() and not Review.objects.exists()


def test_markup_in_review_texts_source_and_name_is_shown_as_text_on_the_evaluation_page(tfidf_artifact: Path) -> None:
    rows = [
        {"id": str(n), "text": f"{SCRIPT} {'A wonderful film.' if n % 2 else 'A dreadful film.'} " * (1 + n), "label": n % 2}
        for n in range(8)
    ]
    dataset = evaluation_dataset_create(
        file=SimpleUploadedFile("x.jsonl", "".join(json.dumps(row) + "\n" for row in rows).encode()),
        name=f"{SCRIPT} file",
        source_name="eval-<b onmouseover=alert(1)>",
    )
    evaluation = evaluation_run_create(model_version=make_version(tfidf_artifact), dataset=dataset, enqueue=False)
    evaluation_run_execute(run_id=evaluation.pk)
    evaluation.refresh_from_db()
    client = Client()
    client.force_login(ml_admin())

    pages = [client.get(f"/evaluations/{evaluation.pk}/").content.decode(), client.get("/evaluations/").content.decode()]
    pages += [
        client.get(f"/evaluations/{evaluation.pk}/cells/{gold}/{predicted}/").content.decode()
        for gold in (0, 1)
        for predicted in (0, 1)
    ]

    assert any("&lt;b onmouseover=alert(1)&gt;" in page for page in pages[:1]), "the source slice is on the page"
    for page in pages:
        assert "<script>alert(" not in page and "<b onmouseover" not in page
    assert any("&lt;script&gt;alert(" in page for page in pages[2:]), "the cells list their reviews' texts"


def test_a_review_held_by_an_evaluation_file_cannot_be_deleted_and_the_api_says_why() -> None:
    dataset = evaluation_dataset_create(file=SimpleUploadedFile("d.csv", b"review,sentiment\nA good film,positive\n"))
    review = dataset.items.get().review
    client = APIClient()
    client.force_authenticate(ml_admin())

    answer = client.delete(f"/api/reviews/{review.pk}/")

    assert answer.status_code == 409, answer.content
    assert f"evaluation file {dataset.pk}" in answer.json()["error"]["message"]
    assert Review.objects.filter(pk=review.pk).exists()


def test_the_evaluation_form_refuses_a_post_without_its_csrf_token(tfidf_artifact: Path) -> None:
    version = make_version(tfidf_artifact)
    client = Client(enforce_csrf_checks=True)
    client.force_login(ml_admin())

    answer = client.post("/evaluations/new/", {"model_version": version.pk, "split": "test"})

    assert answer.status_code == 403 and not EvaluationRun.objects.exists()


@pytest.mark.parametrize("ids", ["²", "1,²", "99999999999999999999,1"])
def test_compare_ignores_ids_that_are_not_plain_numbers(tfidf_artifact: Path, ids: str) -> None:
    client = Client()
    client.force_login(ml_admin())

    for parameter in ("evaluations", "runs"):
        answer = client.get("/compare/", {parameter: ids})
        assert answer.status_code in (200, 400), (parameter, answer.status_code)


def test_a_lone_surrogate_in_an_evaluation_file_is_a_400_naming_its_line_and_stores_nothing() -> None:
    client = APIClient()
    client.force_authenticate(ml_admin())
    upload = SimpleUploadedFile("odd.jsonl", b'{"text": "A good film.", "label": 1}\n{"text": "bad \\ud800", "label": 0}\n')

    answer = client.post("/api/evaluation-datasets/", {"file": upload}, format="multipart")

    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["fields"]["file"].startswith("odd.jsonl, line 2: the review text contains a lone surrogate")
    assert not EvaluationDataset.objects.exists() and not Review.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_same_file_uploaded_twice_at_once_stores_two_datasets_over_one_set_of_reviews() -> None:
    import threading

    from django.db import connection

    data = b"review,sentiment\n" + b"".join(b"review number %d,positive\n" % n for n in range(2_000))
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def upload() -> None:
        # A double-clicked upload: both requests checked the file before either stored it.
        try:
            checked = read_evaluation_file(SimpleUploadedFile("same.csv", data))
            barrier.wait(timeout=10)
            outcomes.append(evaluation_dataset_store(checked))
        except Exception as error:  # noqa: BLE001 - the test reports what went wrong
            outcomes.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert all(isinstance(outcome, EvaluationDataset) for outcome in outcomes), outcomes
    assert EvaluationDataset.objects.count() == 2
    assert Review.objects.filter(source="eval-same").count() == 2_000
