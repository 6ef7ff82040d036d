"""Label-noise detections queued from the labelling page and the API.

Thin: the task takes a job id and hands it to its kind of job (``apps.labelling.runners.NoiseRunner``),
which claims the row under a lock, so a redelivered or re-sent message never runs it twice.
"""

from __future__ import annotations

from celery import Task, shared_task

from apps.labelling.runners import NoiseRunner


@shared_task(name="labelling.detect_noise", bind=True, acks_late=True, ignore_result=True)
def detect_noise(self: Task, job_id: int) -> None:
    NoiseRunner.handle(job_id, worker=self.request.hostname)
