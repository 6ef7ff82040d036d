"""Hugging Face Hub jobs: publishing a version (queue ``default``) and registering a model trained elsewhere
(queue ``gpu``, it scores the model on a test split).

Thin: the task takes a job id and hands it to its kind of job (``apps.registry.runners.HubRunner``), which claims
the row under a lock, so a redelivered message never uploads or registers twice.
"""

from __future__ import annotations

from celery import Task, shared_task

from apps.registry.runners import HubRunner


@shared_task(name="registry.run_hub_job", bind=True, acks_late=True, ignore_result=True)
def run_hub_job(self: Task, job_id: int) -> None:
    HubRunner.handle(job_id, worker=self.request.hostname)
