"""Training and evaluation tasks.

Thin: each takes a run id and hands it to its kind of job (``apps.training.runners``), which claims the
row under a lock, so a redelivered or re-sent message never starts a run twice, and does the work in a
process of its own (``apps.common.child``), whatever the worker's pool. ``acks_late`` keeps
the message until the task returns. No automatic retries: a run that crashed its worker would crash
the next one.
"""

from __future__ import annotations

from celery import Task, shared_task

from apps.training.runners import EvaluationRunner, TrainingRunner


@shared_task(name="training.run_training", bind=True, acks_late=True, ignore_result=True)
def run_training(self: Task, run_id: int) -> None:
    """Train run ``run_id``; sent to queue ``gpu`` (transformers) or ``default`` (TF-IDF)."""
    TrainingRunner.handle(run_id, worker=self.request.hostname, in_child=True)


@shared_task(name="training.run_evaluation", bind=True, acks_late=True, ignore_result=True)
def run_evaluation(self: Task, run_id: int) -> None:
    """Evaluate a model version for evaluation run ``run_id``."""
    EvaluationRunner.handle(run_id, worker=self.request.hostname, in_child=True)
