"""Training and evaluation tasks, and the reaper every worker runs for runs whose worker died.

The tasks are thin: they take a run id, check that the run is still queued and call one service.
``acks_late`` keeps the message until the task returns, so a run whose worker died is redelivered;
the queued check (and the service's locked claim) make sure the redelivery does not start it twice.
No automatic retries: a run that crashed its worker would crash the next one.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections

from apps.common.choices import JobStatus
from apps.common.models import Job
from apps.training.models import EvaluationRun, TrainingRun
from apps.training.services import (
    evaluation_run_execute,
    training_run_execute,
    training_run_reap_stale,
)

logger = logging.getLogger(__name__)

_reaper_stop = threading.Event()


@shared_task(name="training.run_training", bind=True, acks_late=True, ignore_result=True)
def run_training(self: Task, run_id: int) -> None:
    """Train run ``run_id``; sent to queue ``gpu`` (transformers) or ``default`` (TF-IDF)."""
    if _still_queued(TrainingRun, run_id):
        training_run_execute(run_id=run_id, worker=self.request.hostname)


@shared_task(name="training.run_evaluation", bind=True, acks_late=True, ignore_result=True)
def run_evaluation(self: Task, run_id: int) -> None:
    """Evaluate a model version for evaluation run ``run_id``."""
    if _still_queued(EvaluationRun, run_id):
        evaluation_run_execute(run_id=run_id, worker=self.request.hostname)


def _still_queued(model: type[Job], run_id: int) -> bool:
    status = model.objects.filter(pk=run_id).values_list("status", flat=True).first()
    if status == JobStatus.QUEUED:
        return True
    logger.info("%s %s is %s, not queued: nothing to do.", model.__name__, run_id, status or "gone")
    return False


@worker_ready.connect
def start_reaper(**_: Any) -> None:
    """Every worker reaps runs with a stale heartbeat, so a killed run ends failed even without Celery beat."""
    _reaper_stop.clear()
    threading.Thread(target=_reap_until_shutdown, name="run-reaper", daemon=True).start()


@worker_shutdown.connect
def stop_reaper(**_: Any) -> None:
    _reaper_stop.set()


def _reap_until_shutdown() -> None:
    interval = float(settings.RUN_HEARTBEAT_SECONDS)
    while not _reaper_stop.wait(interval):
        close_old_connections()
        try:
            training_run_reap_stale()
        except Exception:  # the reaper must outlive a database restart
            logger.exception("Reaping stale runs failed; trying again in %s s", interval)
