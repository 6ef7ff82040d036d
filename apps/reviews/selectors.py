"""Reads of reviews and snapshots for other apps and pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Count, F, QuerySet, TextChoices
from django.db.models.functions import Substr

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


# --- The review browser: search and filters, a page of rows -----------------------------------------------

NO_LABEL: Final = "none"
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
    def needs_other_apps(self) -> bool:
        """Whether some filter reads human labels or a model's predictions (rows of the apps above reviews)."""
        return (
            self.human_label is not None
            or self.disagreement == Disagreement.GOLD_HUMAN
            or (self.model_version_id is not None and self.needs_model)
        )

    @property
    def needs_model(self) -> bool:
        return (
            self.predicted_label is not None
            or self.min_confidence is not None
            or self.max_confidence is not None
            or self.disagreement in (Disagreement.MODEL_GOLD, Disagreement.MODEL_HUMAN)
        )


def review_search(
    filters: ReviewFilters,
    *,
    many: bool = False,
    narrow: Callable[[QuerySet[Review]], QuerySet[Review]] | None = None,
) -> QuerySet[Any]:
    """The ids of the reviews matching ``filters``, newest first, for paging; ``review_list_rows`` reads a page.

    Ids only, so counting and paging read indexes rather than review texts. The text search matches
    words (English stemming, ``"quoted phrases"``, ``-excluded`` words) on PostgreSQL, where an index
    serves it; on SQLite it matches the text as a substring.

    ``many`` says that the caller knows the text matches many reviews (a common word, counted past
    the review browser's count cap): the first pages are then found by walking the primary key backwards
    and matching review after review, a few dozen for a page, rather than sorting every match.

    The filters on rows of the apps above reviews (the human label, a model's predictions) are applied by
    ``narrow``, which the caller takes from ``apps.dashboard.selectors.review_label_and_model_filter``;
    filters that need it without it raise ``ValueError``.
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
    if narrow is not None:
        reviews = narrow(reviews)
    elif filters.needs_other_apps:
        raise ValueError("These filters read human labels or a model's predictions: pass their narrow as well.")
    return reviews.order_by(newest_first).values_list("id", flat=True)


def review_list_rows(*, review_ids: list[int]) -> list[Review]:
    """The reviews ``review_ids`` in that order, each with its human label (``resolution``) and a
    300-character ``excerpt`` of its text instead of the text."""
    rows = Review.objects.filter(pk__in=review_ids).select_related("resolution").defer("text").annotate(
        excerpt=Substr("text", 1, 300)
    )
    by_id = {review.pk: review for review in rows}
    return [by_id[pk] for pk in review_ids if pk in by_id]


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
