"""Reads of training and evaluation runs for pages, the API and the admin."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from apps.registry.models import ModelVersion
from apps.training.models import EpochMetric, EvaluationRun, RunPrediction, TrainingRun


@dataclass(frozen=True)
class TrainingRunDetail:
    run: TrainingRun
    epochs: list[EpochMetric]
    model_version: ModelVersion | None
    evaluations: list[EvaluationRun]


def training_run_list(*, status: str | None = None, kind: str | None = None) -> QuerySet[TrainingRun]:
    """Runs newest first, with their snapshot and model version fetched in the same query."""
    runs = TrainingRun.objects.select_related("snapshot", "model_version", "created_by").order_by("-created_at")
    if status:
        runs = runs.filter(status=status)
    if kind:
        runs = runs.filter(kind=kind)
    return runs


def training_run_detail(*, run_id: int) -> TrainingRunDetail:
    """A run with its per-epoch metrics, its model version and the evaluations of that version.

    Raises ``TrainingRun.DoesNotExist`` for an unknown id.
    """
    run = TrainingRun.objects.select_related("snapshot", "created_by").get(pk=run_id)
    version = ModelVersion.objects.filter(training_run=run).first()
    evaluations = (
        list(EvaluationRun.objects.filter(model_version=version).select_related("snapshot").order_by("-created_at"))
        if version is not None
        else []
    )
    return TrainingRunDetail(
        run=run, epochs=list(run.epoch_metrics.order_by("epoch")), model_version=version, evaluations=evaluations
    )


def evaluation_run_list(*, model_version_id: int | None = None) -> QuerySet[EvaluationRun]:
    evaluations = EvaluationRun.objects.select_related("model_version", "snapshot").order_by("-created_at")
    if model_version_id is not None:
        evaluations = evaluations.filter(model_version_id=model_version_id)
    return evaluations


def run_cell_predictions(
    *,
    training_run: TrainingRun | None = None,
    evaluation_run: EvaluationRun | None = None,
    gold_label: int,
    predicted_label: int,
    limit: int = 50,
) -> list[RunPrediction]:
    """The reviews in one cell of a run's confusion matrix, the most confident mistakes (or hits) first."""
    if (training_run is None) == (evaluation_run is None):
        raise ValueError("Give exactly one of training_run and evaluation_run.")
    predictions = RunPrediction.objects.filter(gold_label=gold_label, predicted_label=predicted_label)
    if training_run is not None:
        predictions = predictions.filter(training_run=training_run)
    else:
        predictions = predictions.filter(evaluation_run=evaluation_run)
    return list(predictions.select_related("review").order_by("-confidence", "review_id")[:limit])
