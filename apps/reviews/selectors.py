"""Reads of reviews and snapshots for other apps and pages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, TextChoices
from django.db.models.functions import Substr
from django.utils import timezone

from apps.reviews.choices import Label, OriginSplit
from apps.reviews.models import DatasetSnapshot, Review, SnapshotItem

# The text search configuration of the review search and its index.
SEARCH_CONFIG = "english"


@dataclass(frozen=True)
class SplitCounts:
    split: str
    negative: int
    positive: int
    unlabelled: int

    @property
    def total(self) -> int:
        return self.negative + self.positive + self.unlabelled


def review_counts_by_split_and_label() -> list[SplitCounts]:
    """One row per origin split (IMDb's train/test/unsupervised, or none), counting each label.

    ``COUNT(*)`` over (origin split, gold label) is answered by an index-only scan on PostgreSQL;
    counting ``id`` would visit every review row (three times slower at 100,000 reviews).
    """
    rows = Review.objects.values("origin_split", "gold_label").annotate(n=Count("*")).order_by()
    table: dict[str, dict[int | None, int]] = {}
    for row in rows:
        table.setdefault(row["origin_split"], {})[row["gold_label"]] = row["n"]
    order = [choice.value for choice in OriginSplit]
    return [
        SplitCounts(
            split=OriginSplit(split).label if split in order else split,
            negative=counts.get(Label.NEGATIVE, 0),
            positive=counts.get(Label.POSITIVE, 0),
            unlabelled=counts.get(None, 0),
        )
        for split, counts in sorted(table.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))
    ]


def snapshot_list() -> list[DatasetSnapshot]:
    return list(DatasetSnapshot.objects.order_by("-created_at"))


# --- The review browser: search, filters, one review with its labels ------------------------------------

NO_LABEL = "none"
LabelFilter = int | Literal["none"] | None


class Disagreement(TextChoices):
    MODEL_GOLD = "model_gold", "Model disagrees with the gold label"
    MODEL_HUMAN = "model_human", "Model disagrees with the human label"
    GOLD_HUMAN = "gold_human", "Human label disagrees with the gold label"


@dataclass(frozen=True)
class ReviewFilters:
    """What the review browser asks for; every field left empty means "any".

    The prediction filters (``predicted_label``, the confidence range and the model disagreements) are
    about ``model_version``'s predictions: the stored predictions it made (form, API, batch jobs) and those
    of its training run's test split and its evaluations. A version's predictions of one review all agree
    (the same model on the same text), so "a prediction of the version says X" is "the version says X".
    """

    text: str = ""
    origin_split: str | None = None
    snapshot_id: int | None = None
    snapshot_split: str | None = None
    gold_label: LabelFilter = None
    human_label: LabelFilter = None
    model_version_id: int | None = None
    predicted_label: int | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    disagreement: str | None = None

    @property
    def needs_model(self) -> bool:
        return (
            self.predicted_label is not None
            or self.min_confidence is not None
            or self.max_confidence is not None
            or self.disagreement in (Disagreement.MODEL_GOLD, Disagreement.MODEL_HUMAN)
        )


@dataclass(frozen=True)
class ModelOpinion:
    """What one model version predicted for one review."""

    label: int
    confidence: float


def review_search(filters: ReviewFilters, *, many: bool = False) -> QuerySet[Any]:
    """The ids of the reviews matching ``filters``, newest first, for paging; ``review_list_rows`` reads a page.

    Ids only, so counting and paging read indexes rather than review texts. The text search matches
    words (English stemming, ``"quoted phrases"``, ``-excluded`` words) on PostgreSQL, where an index
    serves it; on SQLite it matches the text as a substring.

    ``many`` says that the caller knows the text matches many reviews (a common word, counted past
    the review browser's count cap): the first pages are then found by walking the primary key backwards
    and matching review after review, a few dozen for a page, rather than sorting every match.
    """
    reviews = Review.objects.all()
    newest_first: Any = "-id"
    if filters.text.strip():
        reviews = _text_search(reviews, filters.text.strip())
        # Ordering by the bare primary key tempts PostgreSQL to walk it backwards and compute every
        # review's tsvector until a page is full (a quarter of a millisecond each: seconds for a rare
        # word); an expression it cannot serve from an index makes it take the matches from the text
        # index and sort only those, which is what a rare or moderately common word wants.
        if not many:
            newest_first = (F("id") + 0).desc()
    if filters.origin_split is not None:
        reviews = reviews.filter(origin_split=filters.origin_split)
    if filters.snapshot_id is not None:
        items = SnapshotItem.objects.filter(snapshot_id=filters.snapshot_id)
        if filters.snapshot_split:
            items = items.filter(split=filters.snapshot_split)
        reviews = reviews.filter(pk__in=items.values("review_id"))
    reviews = _label_filter(reviews, "gold_label", filters.gold_label)
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
    return reviews.order_by(newest_first).values_list("id", flat=True)


def review_list_rows(*, review_ids: list[int]) -> list[Review]:
    """The reviews ``review_ids`` in that order, each with its human label (``resolution``) and a
    300-character ``excerpt`` of its text instead of the text."""
    rows = Review.objects.filter(pk__in=review_ids).select_related("resolution").defer("text").annotate(
        excerpt=Substr("text", 1, 300)
    )
    by_id = {review.pk: review for review in rows}
    return [by_id[pk] for pk in review_ids if pk in by_id]


def _resolutions() -> QuerySet[Any]:
    from apps.labelling.models import Resolution

    return Resolution.objects.all()


def _text_search(reviews: QuerySet[Review], text: str) -> QuerySet[Review]:
    if connection.vendor != "postgresql":
        return reviews.filter(text__icontains=text)
    # The same expression as the index review_text_search_idx (apps/dashboard/migrations), so it is used.
    vector = SearchVector("text", config=SEARCH_CONFIG)
    query = SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch")
    return reviews.alias(search=vector).filter(search=query)


def _label_filter(reviews: QuerySet[Review], field: str, wanted: LabelFilter) -> QuerySet[Review]:
    if wanted == NO_LABEL:
        return reviews.filter(**{f"{field}__isnull": True})
    if wanted is not None:
        return reviews.filter(**{field: wanted})
    return reviews


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
    from apps.predictions.models import Prediction
    from apps.registry.models import ModelVersion
    from apps.training.models import RunPrediction

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
    from apps.training.models import EvaluationRun

    owner = Q(evaluation_run__in=EvaluationRun.objects.filter(model_version_id=version_id).values("pk"))
    if run_id is not None:
        owner |= Q(training_run_id=run_id)
    return owner


def review_model_opinions(*, model_version_id: int, review_ids: Iterable[int]) -> dict[int, ModelOpinion]:
    """What ``model_version_id`` predicted for each of ``review_ids`` that it has predicted (two queries)."""
    from apps.predictions.models import Prediction
    from apps.registry.models import ModelVersion
    from apps.training.models import RunPrediction

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


@dataclass(frozen=True)
class ReviewDetail:
    review: Review
    annotations: list[Any]
    snapshot_items: list[SnapshotItem]


def review_detail(*, review_id: int) -> ReviewDetail:
    """A review with its human label, every analyst's annotation and the snapshots it is in.

    Raises ``Review.DoesNotExist`` for an unknown id.
    """
    from apps.labelling.models import Annotation

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
    from apps.labelling.models import Annotation, Resolution

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
