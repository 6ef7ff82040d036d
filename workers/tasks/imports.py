"""Review imports queued from the UI, the API and ``import_reviews --background``.

Thin: the task takes a job id and hands it to its kind of job (``apps.reviews.imports.ImportRunner``),
which claims the row under a lock, so a redelivered or re-sent message never imports twice.
"""

from __future__ import annotations

from celery import Task, shared_task

from apps.reviews.imports import ImportRunner


@shared_task(name="reviews.run_import", bind=True, acks_late=True, ignore_result=True)
def run_import_job(self: Task, job_id: int) -> None:
    ImportRunner.handle(job_id, worker=self.request.hostname)
