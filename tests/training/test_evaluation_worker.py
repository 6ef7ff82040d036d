"""An evaluation on an uploaded labelled file, through a real Celery worker on PostgreSQL and Redis."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.common.choices import JobStatus
from apps.reviews.models import DatasetSnapshot
from apps.training.evaluation_data import evaluation_dataset_create
from apps.training.services import evaluation_run_create, training_run_create
from tests.conftest import WorkerProcess
from tests.training.conftest import NEGATIVE_WORDS, POSITIVE_WORDS
from tests.training.test_worker_runs import finished

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_worker_evaluates_an_uploaded_file_and_stores_its_slices(
    celery_worker_process: WorkerProcess, snapshot: DatasetSnapshot
) -> None:
    run = training_run_create(snapshot=snapshot, kind="tfidf")
    finished(run, worker=celery_worker_process)
    assert run.status == JobStatus.SUCCEEDED, run.error
    rows = [
        {
            "text": " ".join(f"the film was {(POSITIVE_WORDS if n % 2 else NEGATIVE_WORDS)[n % 8]}." for _ in range(1 + n)),
            "label": n % 2,
            "rating": 9 if n % 2 else 2,
        }
        for n in range(20)
    ]
    upload = SimpleUploadedFile("june.jsonl", "".join(json.dumps(row) + "\n" for row in rows).encode())
    dataset = evaluation_dataset_create(file=upload)

    evaluation = evaluation_run_create(model_version=run.model_version, dataset=dataset)
    finished(evaluation, worker=celery_worker_process)

    assert evaluation.status == JobStatus.SUCCEEDED, f"{evaluation.error}\n{evaluation.log_tail}"
    assert evaluation.worker.startswith("test-")
    assert evaluation.predictions.count() == evaluation.total == 20
    groups = {group["dimension"]: group for group in evaluation.slices}
    length = groups["length"]
    assert [entry["value"] for entry in length["slices"]] == ["q1", "q2", "q3", "q4"]
    assert [entry["count"] for entry in length["slices"]] == [5, 5, 5, 5]
    assert length["slices"][0]["max_tokens"] == length["boundaries"][0]
    assert {entry["value"]: entry["count"] for entry in groups["rating"]["slices"]} == {"2": 10, "9": 10}
    assert groups["source"]["slices"][0]["value"] == "eval-june"
    correct = sum(entry["correct"] for entry in groups["rating"]["slices"])
    assert correct == evaluation.confusion_matrix[0][0] + evaluation.confusion_matrix[1][1]
