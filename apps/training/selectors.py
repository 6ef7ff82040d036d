"""Reads of training and evaluation runs for pages, the API and the admin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Case, Count, F, OrderBy, Prefetch, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce

from apps.common.choices import JobStatus
from apps.reviews.models import Review
from apps.training.choices import ModelKind
from apps.training.jobs import QUEUE_BY_KIND
from apps.training.models import EpochMetric, EvaluationDatasetItem, EvaluationRun, RunPrediction, TrainingRun


@dataclass(frozen=True)
class TrainingRunDetail:
    run: TrainingRun
    epochs: list[EpochMetric]
    model_version: Any  # the run's registry ModelVersion, or None
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
    try:
        # The version registered from the run (one at most), read through the relation in its own query.
        version = run.model_version
    except ObjectDoesNotExist:
        version = None
    evaluations = (
        list(
            EvaluationRun.objects.filter(model_version=version)
            .select_related("snapshot", "review_import", "dataset")
            .defer("slices")
            .order_by("-created_at")
        )
        if version is not None
        else []
    )
    return TrainingRunDetail(
        run=run, epochs=list(run.epoch_metrics.order_by("epoch")), model_version=version, evaluations=evaluations
    )


def evaluation_run_list(*, model_version_id: int | None = None) -> QuerySet[EvaluationRun]:
    evaluations = EvaluationRun.objects.select_related("model_version", "snapshot", "review_import", "dataset").order_by(
        "-created_at"
    )
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


# --- Pages: lists, the live run, the compare view --------------------------------------------------------

# Columns a list of runs never shows: long texts and the full metrics JSON.
_LIST_DEFERRED = ("log_tail", "notes", "error", "metrics", "snapshot__description")
RUN_ORDERINGS: dict[str, tuple[str | OrderBy, str]] = {
    "newest": ("-created_at", "-pk"),
    "oldest": ("created_at", "pk"),
    "f1": (F("f1").desc(nulls_last=True), "-pk"),
    "-f1": (F("f1").asc(nulls_last=True), "-pk"),
}


def training_run_search(
    *, status: str | None = None, kind: str | None = None, base_model: str | None = None, order: str = "newest"
) -> QuerySet[TrainingRun]:
    """Runs for a list page: filtered, ordered by ``order`` (a key of RUN_ORDERINGS; "f1" is best test F1 first).

    Snapshot, model version and creator come in the same query; the log and other long texts do not.
    """
    runs = (
        TrainingRun.objects.select_related("snapshot", "model_version", "created_by")
        .defer(*_LIST_DEFERRED)
        .order_by(*RUN_ORDERINGS.get(order, RUN_ORDERINGS["newest"]))
    )
    if status:
        runs = runs.filter(status=status)
    if kind:
        runs = runs.filter(kind=kind)
    if base_model:
        runs = runs.filter(base_model=base_model)
    return runs


def training_run_base_models() -> list[str]:
    """Every base model some transformer run used, alphabetically."""
    return list(
        TrainingRun.objects.filter(kind=ModelKind.TRANSFORMER)
        .order_by("base_model")
        .values_list("base_model", flat=True)
        .distinct()
    )


def training_runs_active(*, limit: int = 20) -> list[TrainingRun]:
    """Queued and running runs, running first, then oldest first (the order a worker takes them)."""
    return list(
        TrainingRun.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        .select_related("snapshot")
        .defer(*_LIST_DEFERRED)
        .order_by(
            Case(When(status=JobStatus.RUNNING, then=Value(0)), default=Value(1)), "created_at", "pk"
        )[:limit]
    )


def training_run_waits_behind(*, run: TrainingRun) -> str | None:
    """What a queued run waits for, in words: the jobs that hold its queue's workers, or no worker at all.

    Celery hands a queue's messages to its workers in order, so a queued run waits behind the runs and
    evaluations running on the same queue and the runs queued there before it. None unless ``run`` is queued.
    """
    if run.status != JobStatus.QUEUED:
        return None
    queue = QUEUE_BY_KIND[run.kind]
    kinds = [kind for kind, kind_queue in QUEUE_BY_KIND.items() if kind_queue == queue]
    running = [
        f"run {pk}"
        for pk in TrainingRun.objects.filter(status=JobStatus.RUNNING, kind__in=kinds)
        .order_by("started_at", "pk")
        .values_list("pk", flat=True)
    ] + [
        f"evaluation {pk}"
        for pk in EvaluationRun.objects.filter(status=JobStatus.RUNNING, model_version__kind__in=kinds)
        .order_by("started_at", "pk")
        .values_list("pk", flat=True)
    ]
    ahead = TrainingRun.objects.filter(
        Q(created_at__lt=run.created_at) | Q(created_at=run.created_at, pk__lt=run.pk),
        status=JobStatus.QUEUED,
        kind__in=kinds,
    ).count()
    queued_ahead = f"; {ahead} queued run{'' if ahead == 1 else 's'} ahead of it" if ahead else ""
    if running:
        busy = ", ".join(running)
        verb = "is" if len(running) == 1 else "are"
        return f"Waiting for a free {queue} worker: {busy} {verb} running{queued_ahead}."
    if ahead:
        return f"Waiting for a {queue} worker{queued_ahead}."
    return (
        f"Waiting for a {queue} worker to take it. If it stays queued, check that one is started: "
        f"celery -A sentimentsite worker -Q {queue}."
    )


def training_runs_compared(*, run_ids: list[int]) -> list[TrainingRun]:
    """The runs ``run_ids`` in that order (unknown ids left out), each with its epochs, in two queries."""
    runs = (
        TrainingRun.objects.filter(pk__in=run_ids)
        .select_related("snapshot", "model_version")
        .defer("log_tail", "snapshot__description")
        .prefetch_related(Prefetch("epoch_metrics", queryset=EpochMetric.objects.order_by("epoch")))
    )
    by_id = {run.pk: run for run in runs}
    return [by_id[pk] for pk in dict.fromkeys(run_ids) if pk in by_id]


def run_prediction_disagreements(*, run_ids: list[int]) -> QuerySet[Any]:
    """Ids of the reviews every one of ``run_ids`` predicted, where their predicted labels are not all equal.

    Rows are ``{"review_id": ...}``, in review order; counted and sliced in the database.
    """
    return (
        RunPrediction.objects.filter(training_run_id__in=run_ids)
        .values("review_id")
        .annotate(
            runs=Count("training_run_id", distinct=True), labels=Count("predicted_label", distinct=True)
        )
        .filter(runs=len(set(run_ids)), labels__gt=1)
        .order_by("review_id")
    )


def run_predictions_of_reviews(*, run_ids: list[int], review_ids: list[int]) -> list[RunPrediction]:
    """What each of ``run_ids`` predicted for each of ``review_ids``, with the reviews, in one query."""
    return list(
        RunPrediction.objects.filter(training_run_id__in=run_ids, review_id__in=review_ids)
        .select_related("review")
        .order_by("review_id", "training_run_id")
    )


def run_cell_prediction_queryset(
    *,
    training_run: TrainingRun | None = None,
    evaluation_run: EvaluationRun | None = None,
    gold_label: int,
    predicted_label: int,
) -> QuerySet[RunPrediction]:
    """All the predictions in one cell of a run's confusion matrix, most confident first, for paging."""
    if (training_run is None) == (evaluation_run is None):
        raise ValueError("Give exactly one of training_run and evaluation_run.")
    owner = Q(training_run=training_run) if training_run is not None else Q(evaluation_run=evaluation_run)
    return (
        RunPrediction.objects.filter(owner, gold_label=gold_label, predicted_label=predicted_label)
        .select_related("review")
        .order_by("-confidence", "review_id")
    )


def evaluation_run_get(*, evaluation_id: int) -> EvaluationRun:
    """One evaluation with its version and snapshot; raises ``EvaluationRun.DoesNotExist``."""
    return EvaluationRun.objects.select_related(
        "model_version", "snapshot", "review_import", "dataset", "created_by"
    ).get(pk=evaluation_id)


def run_predictions_of_review(*, review_id: int) -> list[RunPrediction]:
    """Every run's and evaluation's prediction for one review, newest run first."""
    return list(
        RunPrediction.objects.filter(review_id=review_id)
        .select_related("training_run", "evaluation_run__model_version")
        .defer("training_run__log_tail", "training_run__metrics", "evaluation_run__log_tail", "evaluation_run__metrics")
        .order_by("-pk")
    )


# --- Evaluations: the list, compare ------------------------------------------------------------------------


def evaluation_run_search(*, status: str | None = None, model_version_id: int | None = None) -> QuerySet[EvaluationRun]:
    """Evaluations for a list page, newest first, with what they evaluated; no log, metrics or slices."""
    evaluations = (
        EvaluationRun.objects.select_related("model_version", "snapshot", "review_import", "dataset", "created_by")
        .defer("log_tail", "metrics", "slices", "snapshot__description")
        .order_by("-created_at", "-pk")
    )
    if status:
        evaluations = evaluations.filter(status=status)
    if model_version_id is not None:
        evaluations = evaluations.filter(model_version_id=model_version_id)
    return evaluations


def evaluations_compared(*, evaluation_ids: list[int]) -> list[EvaluationRun]:
    """The evaluations ``evaluation_ids`` in that order (unknown ids left out), in one query."""
    evaluations = EvaluationRun.objects.filter(pk__in=evaluation_ids).select_related(
        "model_version", "snapshot", "review_import", "dataset"
    )
    by_id = {evaluation.pk: evaluation for evaluation in evaluations}
    return [by_id[pk] for pk in dict.fromkeys(evaluation_ids) if pk in by_id]


def evaluation_prediction_disagreements(*, evaluation_ids: list[int]) -> QuerySet[Any]:
    """Ids of the reviews every one of ``evaluation_ids`` scored, where their predicted labels differ."""
    return (
        RunPrediction.objects.filter(evaluation_run_id__in=evaluation_ids)
        .values("review_id")
        .annotate(runs=Count("evaluation_run_id", distinct=True), labels=Count("predicted_label", distinct=True))
        .filter(runs=len(set(evaluation_ids)), labels__gt=1)
        .order_by("review_id")
    )


def evaluation_predictions_of_reviews(*, evaluation_ids: list[int], review_ids: list[int]) -> list[RunPrediction]:
    """What each of ``evaluation_ids`` predicted for each of ``review_ids``, with the reviews, in one query."""
    return list(
        RunPrediction.objects.filter(evaluation_run_id__in=evaluation_ids, review_id__in=review_ids)
        .select_related("review")
        .order_by("review_id", "evaluation_run_id")
    )


def import_labelled_reviews(import_id: int | None) -> QuerySet[Review]:
    """The reviews an import added that have a label, ``label`` annotated: the gold one, else the resolved human one."""
    return (
        Review.objects.filter(import_job_id=import_id)
        .annotate(label=Coalesce("gold_label", "resolution__label"))
        .filter(label__isnull=False)
        .order_by("id")
    )


def evaluation_files_holding(review: Review) -> str | None:
    """Why ``review`` cannot be deleted when an uploaded evaluation file holds it, else None.

    An uploaded evaluation file keeps its reviews (protected), so its evaluations stay reproducible.
    """
    datasets = sorted(set(EvaluationDatasetItem.objects.filter(review=review).values_list("dataset_id", flat=True)))
    if not datasets:
        return None
    return (
        f"Review {review.pk} is in evaluation file {', '.join(str(pk) for pk in datasets)}, whose reviews stay "
        "so that its evaluations can be repeated; it cannot be deleted."
    )
