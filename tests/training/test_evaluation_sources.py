"""Evaluations on an import's labelled reviews and on an uploaded labelled file, with their slices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.common.choices import JobStatus
from apps.reviews.models import ImportJob, Review
from apps.reviews.snapshots import snapshot_create
from apps.training.evaluation_data import EvaluationDataError, evaluation_dataset_create
from apps.training.models import EvaluationDataset, EvaluationRun
from apps.training.runners import evaluation_run_execute
from apps.training.services import RunConfigError, evaluation_run_create
from tests.registry.factories import make_reviews, make_version, train_tfidf_artifact

POSITIVE = "A wonderful, moving film with a superb cast."
NEGATIVE = "A dreadful, boring film with an awful script."


@pytest.fixture(scope="module")
def tfidf_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tfidf_artifact(tmp_path_factory.mktemp("evaluation-tfidf"))


def jsonl_file(rows: list[dict[str, Any]], name: str = "tickets.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, "".join(json.dumps(row) + "\n" for row in rows).encode())


def labelled_rows(count: int) -> list[dict[str, Any]]:
    """Reviews of growing length, alternately negative and positive, rated 2 or 9 stars."""
    return [
        {
            "id": f"t-{n}",
            "text": " ".join([POSITIVE if n % 2 else NEGATIVE] * (1 + n // 4)),
            "label": "positive" if n % 2 else "negative",
            "rating": 9 if n % 2 else 2,
        }
        for n in range(count)
    ]


@pytest.mark.django_db
def test_an_uploaded_file_is_evaluated_with_metrics_and_slices_and_never_enters_a_training_snapshot(
    tfidf_artifact: Path,
) -> None:
    make_reviews(20, labelled=True, seed=4)
    version = make_version(tfidf_artifact)
    dataset = evaluation_dataset_create(file=jsonl_file(labelled_rows(16)))

    evaluation = evaluation_run_create(model_version=version, dataset=dataset, enqueue=False)
    evaluation_run_execute(run_id=evaluation.pk)
    evaluation.refresh_from_db()

    assert evaluation.status == JobStatus.SUCCEEDED, evaluation.error
    assert (evaluation.split, evaluation.snapshot, evaluation.dataset) == ("file", None, dataset)
    assert evaluation.total == evaluation.processed == 16 == evaluation.predictions.count()
    assert sum(map(sum, evaluation.confusion_matrix)) == 16
    groups = {group["dimension"]: group for group in evaluation.slices}
    assert list(groups) == ["length", "rating", "source", "origin_split"]
    length = groups["length"]
    assert len(length["boundaries"]) == 3 and length["boundaries"] == sorted(length["boundaries"])
    assert sum(entry["count"] for entry in length["slices"]) == 16
    assert [(entry["label"], entry["count"]) for entry in groups["rating"]["slices"]] == [("2 / 10", 8), ("9 / 10", 8)]
    assert [(entry["value"], entry["count"]) for entry in groups["source"]["slices"]] == [("eval-tickets", 16)]
    assert [entry["label"] for entry in groups["origin_split"]["slices"]] == ["no origin split"]
    correct = sum(entry["correct"] for entry in groups["source"]["slices"])
    assert correct / 16 == pytest.approx(evaluation.accuracy)

    stored = Review.objects.filter(source="eval-tickets")
    assert stored.count() == 16 and not stored.filter(gold_label__isnull=False).exists()
    snapshot = snapshot_create(name="after the upload")
    assert snapshot.size == 20, "the evaluation file's reviews stay out of the training data"


@pytest.mark.django_db
def test_the_same_file_uploaded_again_reuses_its_reviews() -> None:
    first = evaluation_dataset_create(file=jsonl_file(labelled_rows(6)))
    second = evaluation_dataset_create(file=jsonl_file(labelled_rows(6)), name="again")

    assert Review.objects.filter(source="eval-tickets").count() == 6
    assert first.items.count() == second.items.count() == 6
    assert (second.name, second.positive_count, second.negative_count) == ("again", 3, 3)


@pytest.mark.django_db
def test_an_import_is_evaluated_on_the_labelled_reviews_it_added(tfidf_artifact: Path) -> None:
    job = ImportJob.objects.create(source="reviews.csv", source_name="csv", status=JobStatus.SUCCEEDED)
    make_reviews(12, labelled=True, seed=8, source="csv", import_job=job)
    make_reviews(5, labelled=False, seed=9, source="csv", import_job=job)
    version = make_version(tfidf_artifact)

    evaluation = evaluation_run_create(model_version=version, review_import=job, enqueue=False)
    evaluation_run_execute(run_id=evaluation.pk)
    evaluation.refresh_from_db()

    assert evaluation.status == JobStatus.SUCCEEDED, evaluation.error
    assert (evaluation.split, evaluation.review_import) == ("import", job)
    assert evaluation.total == 12
    assert evaluation.data_description == "the labelled reviews of import %d (csv)" % job.pk


@pytest.mark.django_db
def test_an_import_without_labelled_reviews_or_not_finished_is_refused_with_a_reason(tfidf_artifact: Path) -> None:
    version = make_version(tfidf_artifact)
    running = ImportJob.objects.create(source="a.csv", source_name="a", status=JobStatus.RUNNING)
    empty = ImportJob.objects.create(source="b.csv", source_name="b", status=JobStatus.SUCCEEDED)
    make_reviews(3, labelled=False, seed=2, source="b", import_job=empty)

    with pytest.raises(RunConfigError) as refused:
        evaluation_run_create(model_version=version, review_import=running, enqueue=False)
    assert refused.value.errors == {"review_import": f"Import {running.pk} is running: only a finished import has reviews."}
    with pytest.raises(RunConfigError) as refused:
        evaluation_run_create(model_version=version, review_import=empty, enqueue=False)
    assert "added no labelled reviews" in refused.value.errors["review_import"]
    with pytest.raises(RunConfigError) as refused:
        evaluation_run_create(model_version=version, split="file", enqueue=False)
    assert "upload one" in refused.value.errors["dataset"]
    assert not EvaluationRun.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.jsonl", b'{"text": "Fine.", "label": 1}\n{"text": "No label here."}\n', "a.jsonl, review 2: no label"),
        ("a.csv", b"review,sentiment\n\"Good.\",positive\n\"Bad.\"\n", "a.csv, line 3: 1 fields where the header has 2"),
        ("a.csv", b"comment,sentiment\nGood,positive\n", "no 'review' or 'text' column"),
        ("a.txt", b"Good film.\n", "plain text, which has no labels"),
        ("a.jsonl", b'{"text": "Good.", "label": "maybe"}\n', "a.jsonl, line 1"),
        ("a.jsonl", b"", "holds no reviews"),
        ("a.jsonl", b'{"id": "x", "text": "Good.", "label": 1}\n{"id": "x", "text": "Bad.", "label": 0}\n', "repeats review 1"),
        ("a.jsonl", b'{"text": "caf\xe9", "label": 1}\n', "not valid UTF-8"),
    ],
)
def test_a_bad_file_stores_nothing_and_says_what_is_wrong(name: str, content: bytes, message: str) -> None:
    with pytest.raises(EvaluationDataError) as refused:
        evaluation_dataset_create(file=SimpleUploadedFile(name, content))

    assert message in str(refused.value)
    assert not EvaluationDataset.objects.exists() and not Review.objects.exists()


@pytest.mark.django_db
def test_a_file_over_the_upload_cap_or_into_an_imported_source_is_refused(settings: Any) -> None:
    settings.IMPORT_MAX_UPLOAD_BYTES = 100
    with pytest.raises(EvaluationDataError, match="the largest evaluation file is 0.0 MB"):
        evaluation_dataset_create(file=jsonl_file(labelled_rows(10)))
    settings.IMPORT_MAX_UPLOAD_BYTES = 10_000_000
    make_reviews(2, labelled=True, seed=1, source="imdb")
    with pytest.raises(EvaluationDataError, match="holds reviews that were imported"):
        evaluation_dataset_create(file=jsonl_file(labelled_rows(2)), source_name="imdb")
    assert not EvaluationDataset.objects.exists() and Review.objects.count() == 2


@pytest.mark.django_db
def test_the_evaluate_command_stores_a_labelled_file_and_evaluates_on_it(tfidf_artifact: Path, tmp_path: Path) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    version = make_version(tfidf_artifact)
    path = tmp_path / "june.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in labelled_rows(6)))
    out = StringIO()

    call_command("evaluate", "--model-version", str(version.pk), "--file", str(path), "--now", stdout=out)

    evaluation = EvaluationRun.objects.get()
    assert (evaluation.split, evaluation.dataset.source_name, evaluation.total) == ("file", "eval-june", 6)
    assert f"on 6 reviews of the uploaded file june.jsonl: accuracy {evaluation.accuracy:.4f}" in out.getvalue()
    path.write_text('{"text": "no label"}\n')
    with pytest.raises(CommandError, match="june.jsonl, review 1: no label"):
        call_command("evaluate", "--model-version", str(version.pk), "--file", str(path), "--now", stdout=out)
    assert EvaluationRun.objects.count() == 1
