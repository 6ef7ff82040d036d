"""The dashboard's reads across apps: the review browser's filters on labels and predictions, one review
with its annotations, a model's opinions of reviews and how far labelling has come."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.labelling.models import Annotation, Resolution
from apps.predictions.models import Prediction
from apps.registry.models import ModelVersion
from apps.reviews.choices import Label
from apps.reviews.models import Review, SnapshotItem
from apps.reviews.selectors import (
    NO_LABEL,
    Disagreement,
    ReviewFilters,
    SplitCounts,
    review_counts_by_split_and_label,
)
from apps.training.models import EvaluationRun, RunPrediction

# --- The review browser: filters on labels and predictions, a model's opinions -----------------------------


@dataclass(frozen=True)
class ModelOpinion:
    """What one model version predicted for one review."""

    label: int
    confidence: float


def review_label_and_model_filter(filters: ReviewFilters) -> Callable[[QuerySet[Review]], QuerySet[Review]]:
    """The part of ``filters`` that reads rows above reviews (human labels, ``model_version_id``'s
    predictions), as the ``narrow`` of ``apps.reviews.selectors.review_search``."""

    def narrow(reviews: QuerySet[Review]) -> QuerySet[Review]:
        if filters.human_label == NO_LABEL:
            reviews = reviews.exclude(pk__in=_resolutions().values("review_id"))
        elif filters.human_label is not None:
            reviews = reviews.filter(pk__in=_resolutions().filter(label=filters.human_label).values("review_id"))
        if filters.disagreement == Disagreement.GOLD_HUMAN:
            reviews = reviews.filter(
                pk__in=_resolutions()
                .filter(review__gold_label__isnull=False)
                .exclude(label=F("review__gold_label"))
                .values("review_id")
            )
        if filters.model_version_id is not None and filters.needs_model:
            reviews = reviews.filter(_model_says(filters))
        return reviews

    return narrow


def _resolutions() -> QuerySet[Any]:
    return Resolution.objects.all()


def _model_says(filters: ReviewFilters) -> Q:
    """A condition on reviews: ``filters.model_version_id`` predicted them as the filters ask.

    ``id IN (...)`` over the union of the version's stored predictions and its run predictions (its
    training run's and its evaluations'), one ``IN`` where it can be: PostgreSQL then reads the matching
    predictions first (index scans; ``prediction_version_label_idx`` answers the stored ones from the index
    alone) and looks their reviews up, rather than probing a hash per subquery for each of 100,000
    reviews. Disagreeing with the human label joins the few resolutions inside the subquery; disagreeing
    with the gold label goes label by label (what the version said as L, on reviews whose gold label is
    not L), which compares the review's own column rather than joining 50,000 gold-labelled reviews.
    """
    version_id = filters.model_version_id
    assert version_id is not None
    run_id = ModelVersion.objects.filter(pk=version_id).values_list("training_run_id", flat=True).first()
    stored: QuerySet[Any] = Prediction.objects.filter(model_version_id=version_id)
    runs = [RunPrediction.objects.filter(evaluation_run__model_version_id=version_id)]
    if run_id is not None:
        runs.append(RunPrediction.objects.filter(training_run_id=run_id))
    if filters.disagreement == Disagreement.MODEL_HUMAN:
        stored = stored.filter(review__resolution__isnull=False).exclude(label=F("review__resolution__label"))
        runs = [
            part.filter(review__resolution__isnull=False).exclude(predicted_label=F("review__resolution__label"))
            for part in runs
        ]
    confidence = Q()
    if filters.min_confidence is not None:
        confidence &= Q(confidence__gte=filters.min_confidence)
    if filters.max_confidence is not None:
        confidence &= Q(confidence__lte=filters.max_confidence)
    stored = stored.filter(confidence)
    runs = [part.filter(confidence) for part in runs]

    def said(label: int | None) -> QuerySet[Any]:
        """The ids of the reviews the version predicted as ``label`` (any label for None)."""
        labelled = [stored.filter(label=label)] if label is not None else [stored]
        labelled += [part.filter(predicted_label=label) if label is not None else part for part in runs]
        # No ordering (predictions are ordered newest first by default): it would sort each part.
        first, *others = (part.order_by().values("review_id") for part in labelled)
        return first.union(*others, all=True)

    if filters.disagreement != Disagreement.MODEL_GOLD:
        return Q(pk__in=said(filters.predicted_label))
    # Against the gold label, label by label: what the version said as L, on reviews whose gold label is
    # not L. The gold label is the review's own column, so no subquery joins the reviews again.
    labels = [filters.predicted_label] if filters.predicted_label is not None else list(Label.values)
    disagreeing = Q()
    for label in labels:
        disagreeing |= Q(pk__in=said(label)) & ~Q(gold_label=label)
    return Q(gold_label__isnull=False) & disagreeing


def _made_by(version_id: int, run_id: int | None) -> Q:
    """Run predictions of a version: its training run's (on the test split) and its evaluations'."""
    owner = Q(evaluation_run__in=EvaluationRun.objects.filter(model_version_id=version_id).values("pk"))
    if run_id is not None:
        owner |= Q(training_run_id=run_id)
    return owner


def review_model_opinions(*, model_version_id: int, review_ids: Iterable[int]) -> dict[int, ModelOpinion]:
    """What ``model_version_id`` predicted for each of ``review_ids`` that it has predicted (two queries)."""
    ids = list(review_ids)
    if not ids:
        return {}
    opinions: dict[int, ModelOpinion] = {}
    run_id = ModelVersion.objects.filter(pk=model_version_id).values_list("training_run_id", flat=True).first()
    for review_id, label, confidence in RunPrediction.objects.filter(
        _made_by(model_version_id, run_id), review_id__in=ids
    ).values_list(
        "review_id", "predicted_label", "confidence"
    ):
        opinions[review_id] = ModelOpinion(label=label, confidence=confidence)
    # The newest stored prediction wins over an evaluation's: it is what the version answers today.
    for review_id, label, confidence in (
        Prediction.objects.filter(model_version_id=model_version_id, review_id__in=ids)
        .order_by("created_at", "pk")
        .values_list("review_id", "label", "confidence")
    ):
        opinions[review_id] = ModelOpinion(label=label, confidence=confidence)
    return opinions


# --- One review with its annotations; labelling progress ---------------------------------------------------


@dataclass(frozen=True)
class ReviewDetail:
    review: Review
    annotations: list[Any]
    snapshot_items: list[SnapshotItem]


def review_detail(*, review_id: int) -> ReviewDetail:
    """A review with its human label, every analyst's annotation and the snapshots it is in.

    Raises ``Review.DoesNotExist`` for an unknown id.
    """
    review = Review.objects.select_related("resolution__settled_by", "import_job").get(pk=review_id)
    annotations = list(
        Annotation.objects.filter(review=review).select_related("user", "queue").order_by("created_at", "pk")
    )
    items = list(SnapshotItem.objects.filter(review=review).select_related("snapshot").order_by("-snapshot_id"))
    return ReviewDetail(review=review, annotations=annotations, snapshot_items=items)


@dataclass(frozen=True)
class LabellingProgress:
    reviews: int
    gold_labelled: int
    human_resolved: int
    human_resolved_without_gold: int
    awaiting_resolution: int
    annotations_last_week: int
    annotators_last_week: int

    @property
    def labelled(self) -> int:
        """Reviews with a label of either kind."""
        return self.gold_labelled + self.human_resolved_without_gold

    @property
    def labelled_percent(self) -> float:
        return 100.0 * self.labelled / self.reviews if self.reviews else 0.0


def labelling_progress(
    *, split_counts: list[SplitCounts] | None = None, now: datetime | None = None
) -> LabellingProgress:
    """How far labelling has come: gold and human labels, open annotations, last week's work.

    ``split_counts`` (from ``review_counts_by_split_and_label``) saves counting the reviews again where the
    caller has them already.
    """
    rows = split_counts if split_counts is not None else review_counts_by_split_and_label()
    counts = {"reviews": sum(row.total for row in rows), "gold": sum(row.negative + row.positive for row in rows)}
    unlabelled = Review.objects.filter(pk=OuterRef("review_id"), gold_label__isnull=True)
    resolved = Resolution.objects.aggregate(
        total=Count("id"), without_gold=Count("id", filter=Exists(unlabelled))
    )
    resolution = Resolution.objects.filter(review_id=OuterRef("review_id"))
    awaiting = Annotation.objects.filter(~Exists(resolution)).values("review_id").distinct().count()
    since = (now or timezone.now()) - timedelta(days=7)
    week = Annotation.objects.filter(created_at__gte=since).aggregate(
        annotations=Count("id"), annotators=Count("user_id", distinct=True)
    )
    return LabellingProgress(
        reviews=counts["reviews"],
        gold_labelled=counts["gold"],
        human_resolved=resolved["total"],
        human_resolved_without_gold=resolved["without_gold"],
        awaiting_resolution=awaiting,
        annotations_last_week=week["annotations"],
        annotators_last_week=week["annotators"],
    )
