from __future__ import annotations

from pathlib import Path

import pytest

from apps.common.choices import JobStatus
from apps.reviews.models import ImportJob, Review
from apps.reviews.services import import_job_enqueue
from tests.conftest import wait_until


@pytest.mark.django_db(transaction=True)
def test_a_queued_import_runs_on_the_worker_through_redis(celery_worker_process, tmp_path: Path) -> None:
    source = tmp_path / "reviews.jsonl"
    source.write_text(
        '{"text": "Loved every minute.", "label": 1}\n{"text": "I walked out.", "label": "negative"}\n', encoding="utf-8"
    )
    job = import_job_enqueue(source=str(source))

    def finished() -> ImportJob | None:
        refreshed = ImportJob.objects.get(pk=job.pk)
        return refreshed if refreshed.is_finished else None

    done = wait_until(finished, timeout=60, what="the import job to finish on the worker")
    assert done.status == JobStatus.SUCCEEDED, done.error
    assert (done.rows_created, done.rows_existing) == (2, 0)
    assert done.worker
    assert sorted(Review.objects.values_list("gold_label", flat=True)) == [0, 1]


@pytest.mark.django_db(transaction=True)
def test_a_bad_file_on_the_worker_fails_the_job_with_its_reason_and_imports_nothing(
    celery_worker_process, tmp_path: Path
) -> None:
    source = tmp_path / "broken.csv"
    source.write_text("review,sentiment\nFine film,positive\nAwful,meh\n", encoding="utf-8")
    job = import_job_enqueue(source=str(source))
    done = wait_until(lambda: ImportJob.objects.filter(pk=job.pk, status=JobStatus.FAILED).first(), timeout=60, what="the job to fail")
    assert "broken.csv" in done.error and "line 3" in done.error
    assert Review.objects.count() == 0
