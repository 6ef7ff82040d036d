"""Training's two kinds of job as the web sees them: the row, the Celery task, the queue, the reaper's advice.

Queueing and cancelling a run need no more than this (``apps.common.jobs.JobRunner``'s ``submit`` and
``cancel``); what a worker runs for each kind is in ``apps.training.runners``, whose runners extend these.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings

from apps.common.jobs import JobRunner
from apps.training.choices import ModelKind
from apps.training.models import EvaluationRun, TrainingRun

QUEUE_BY_KIND = {ModelKind.TRANSFORMER.value: "gpu", ModelKind.TFIDF.value: "default"}


class TrainingJob(JobRunner[TrainingRun]):
    model = TrainingRun
    task_name = "training.run_training"
    what = "training run"
    child_process = True
    distributed = True

    @classmethod
    def queue_for(cls, job: TrainingRun) -> str:
        return QUEUE_BY_KIND[job.kind]

    @classmethod
    def stale_advice(cls) -> str:
        return " (a new run with the same configuration), with a smaller batch size or max length if it ran out of memory"

    @classmethod
    def discard_for(cls, pk: int) -> None:
        shutil.rmtree(staging_dir(pk), ignore_errors=True)


class EvaluationJob(JobRunner[EvaluationRun]):
    model = EvaluationRun
    task_name = "training.run_evaluation"
    what = "evaluation run"
    child_process = True

    @classmethod
    def queue_for(cls, job: EvaluationRun) -> str:
        # An ensemble goes where its members run: to a GPU worker when one is a transformer.
        version = job.model_version
        if version.kind == ModelKind.ENSEMBLE:
            return scoring_queue([member.kind for member in version.members.all()])
        return scoring_queue([version.kind])


def scoring_queue(kinds: list[str]) -> str:
    """Where models of these kinds are scored: ``gpu`` when one is a transformer, else ``default``."""
    return "gpu" if ModelKind.TRANSFORMER in kinds else "default"


def staging_dir(run_id: int) -> Path:
    """Where a run writes until it succeeds; named by run id so the reaper can remove what a dead worker left."""
    return Path(settings.ARTIFACT_ROOT) / ".incomplete" / f"run-{run_id}"
