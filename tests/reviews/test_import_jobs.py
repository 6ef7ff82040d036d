"""Import jobs: what they record, and imports queued for a worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from apps.common.choices import JobStatus
from apps.reviews.importers import ReviewImportError
from apps.reviews.models import ImportJob, Review
from apps.reviews.services import import_job_enqueue, review_import
from tests.brokering import stand_in_for_task
from workers.tasks.imports import run_import_job

pytestmark = pytest.mark.django_db


def test_a_finished_import_records_who_what_when_and_the_counts(parquet_folder: Path) -> None:
    admin = get_user_model().objects.create_user(username="ada")

    result = review_import(source=str(parquet_folder), created_by=admin)

    job = ImportJob.objects.get()
    assert job == result.job
    assert (job.status, job.source, job.source_name, job.created_by) == (
        JobStatus.SUCCEEDED,
        str(parquet_folder),
        "imdb",
        admin,
    )
    assert (job.rows_read, job.rows_created, job.rows_existing) == (9, 9, 0)
    assert job.started_at is not None and job.finished_at is not None
    assert "9 new, 0 already present" in job.log_tail
    assert Review.objects.filter(import_job=job).count() == 9


def test_a_failed_import_records_the_error_and_the_rows_read_before_it(tmp_path: Path) -> None:
    lines = "".join(f"Review number {number}.,positive\n" for number in range(6000))
    csv_file = tmp_path / "big.csv"
    csv_file.write_text(f"review,sentiment\n{lines}The last one.,maybe\n")

    with pytest.raises(ReviewImportError):
        review_import(source=str(csv_file))

    job = ImportJob.objects.get()
    assert job.status == JobStatus.FAILED
    assert job.error == f"{csv_file}, line 6002: sentiment is 'maybe'; expected positive or negative (or 1 / 0)."
    assert (job.rows_created, job.rows_existing) == (0, 0)
    assert job.rows_read == 5000  # the rows of the batches written before the bad one; all rolled back
    assert job.finished_at is not None
    assert Review.objects.count() == 0


def test_progress_is_reported_with_the_expected_total(parquet_folder: Path) -> None:
    calls: list[tuple[int, int | None]] = []

    review_import(source=str(parquet_folder), progress=lambda done, total: calls.append((done, total)))

    assert calls == [(9, 9)]


def test_an_enqueued_import_is_sent_to_the_default_queue_once_the_transaction_commits(
    parquet_folder: Path, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []
    stand_in_for_task(monkeypatch, run_import_job.name, lambda **options: sent.append(options))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = import_job_enqueue(source=str(parquet_folder))
    assert sent == []
    for callback in callbacks:
        callback()

    assert job.status == JobStatus.QUEUED
    assert sent == [{"args": [job.pk], "task_id": job.celery_task_id, "queue": "default"}]


def test_the_task_runs_a_queued_import_job(parquet_folder: Path, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        job = import_job_enqueue(source=str(parquet_folder), source_name="imdb-copy")

    run_import_job(job.pk)

    job.refresh_from_db()
    assert (job.status, job.rows_created) == (JobStatus.SUCCEEDED, 9)
    assert set(Review.objects.values_list("source", flat=True)) == {"imdb-copy"}


def test_the_task_records_a_bad_source_on_the_job_without_raising(
    tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        job = import_job_enqueue(source=str(tmp_path / "missing.csv"))

    run_import_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error.startswith(f"{tmp_path / 'missing.csv'}: no such file or folder.")


def test_the_task_does_not_run_a_job_that_is_no_longer_queued(
    parquet_folder: Path, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        job = import_job_enqueue(source=str(parquet_folder))
    job.mark_cancelled()

    run_import_job(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert Review.objects.count() == 0
