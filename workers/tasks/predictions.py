"""Batch prediction tasks.

Thin, like the training tasks. ``run_batch_prediction`` hands the job to its kind of job
(``apps.predictions.runners.BatchPredictionRunner``): the first message claims it, plans its chunks and
works them; a redelivered one (its worker died) finds it running and joins it, so the job resumes.
``join_batch_prediction`` is how the job asks other workers on its queue to take chunks too.
"""

from __future__ import annotations

from celery import Task, shared_task

from apps.predictions.runners import BatchPredictionRunner, batch_prediction_job_join


@shared_task(name="predictions.run_batch_prediction", bind=True, acks_late=True, ignore_result=True)
def run_batch_prediction(self: Task, job_id: int) -> None:
    """Predict the reviews of batch job ``job_id``; sent to queue ``gpu`` (transformers) or ``default`` (TF-IDF)."""
    if BatchPredictionRunner.handle(job_id, worker=self.request.hostname) is None:
        batch_prediction_job_join(job_id=job_id)


@shared_task(name="predictions.join_batch_prediction", acks_late=True, ignore_result=True)
def join_batch_prediction(job_id: int) -> None:
    """Take chunks of running batch job ``job_id`` until none is left."""
    batch_prediction_job_join(job_id=job_id)
