"""Batch prediction task.

Thin, like the training tasks: it takes a job id, checks that the job is still queued and calls one
service. ``acks_late`` keeps the message until the task returns, so a job whose worker died is
redelivered; the queued check (and the service's locked claim) keep a redelivery from running it twice.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task

from apps.common.choices import JobStatus
from apps.predictions.batch import batch_prediction_job_execute
from apps.predictions.models import BatchPredictionJob

logger = logging.getLogger(__name__)


@shared_task(name="predictions.run_batch_prediction", bind=True, acks_late=True, ignore_result=True)
def run_batch_prediction(self: Task, job_id: int) -> None:
    """Predict the reviews of batch job ``job_id``; sent to queue ``gpu`` (transformers) or ``default`` (TF-IDF)."""
    status = BatchPredictionJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
    if status != JobStatus.QUEUED:
        logger.info("Batch prediction job %s is %s, not queued: nothing to do.", job_id, status or "gone")
        return
    batch_prediction_job_execute(job_id=job_id, worker=self.request.hostname)
