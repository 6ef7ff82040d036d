"""Batch prediction task.

Thin, like the training tasks: it takes a job id and hands it to its kind of job
(``apps.predictions.batch.BatchPredictionRunner``), whose locked claim keeps a redelivered or re-sent
message from running it twice.
"""

from __future__ import annotations

from celery import Task, shared_task

from apps.predictions.batch import BatchPredictionRunner


@shared_task(name="predictions.run_batch_prediction", bind=True, acks_late=True, ignore_result=True)
def run_batch_prediction(self: Task, job_id: int) -> None:
    """Predict the reviews of batch job ``job_id``; sent to queue ``gpu`` (transformers) or ``default`` (TF-IDF)."""
    BatchPredictionRunner.handle(job_id, worker=self.request.hostname)
