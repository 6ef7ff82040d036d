"""Reads for the labelling pages and API: queues, progress, suggestions, conflicts and agreement."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.common.roles import is_ml_admin
from apps.labelling import sql
from apps.labelling.agreement import (
    AgreementReport,
    GoldAccuracy,
    PairAgreement,
    agreement_report,
    conflict_reason,
    gold_accuracy,
)
from apps.labelling.models import Annotation, Assignment, LabellingQueue, QueueItem, Resolution
from apps.predictions.choices import PredictionSource
from apps.predictions.models import Prediction
from apps.reviews.choices import Label
from apps.reviews.models import Review

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from django.contrib.auth.models import User

CONFLICTS_PAGE = 100


def queue_list(*, user: User) -> QuerySet[LabellingQueue]:
    """Every queue for an ML admin; the queues an analyst works, for them."""
    queues = LabellingQueue.objects.select_related("pool_snapshot", "pool_import").order_by("-is_active", "name")
    if is_ml_admin(user):
        return queues
    return queues.filter(annotators=user, is_active=True)


def start_of_today() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def labels_today(*, user: User) -> int:
    """How many reviews the analyst has labelled since midnight (TIME_ZONE), in every queue."""
    return Annotation.objects.filter(user=user, created_at__gte=start_of_today()).count()


@dataclass(frozen=True)
class Suggestion:
    label: str
    confidence: float
    model_version: int


@dataclass(frozen=True)
class PageExtras:
    """What the labelling page shows beside the review."""

    labels_today: int
    show_suggestion: bool
    suggestion: Suggestion | None


def page_extras(*, user: User, review_id: int | None) -> PageExtras:
    """The analyst's labels today, whether they show the model's suggestion, and the suggestion for the review.

    The suggestion is the current model's latest batch prediction of the review (None without one).
    """
    state = sql.page_state(user_id=user.pk, since=start_of_today(), review_id=review_id)
    suggestion = None
    if state.suggestion_label is not None:
        suggestion = Suggestion(
            label=str(Label(state.suggestion_label).label),
            confidence=float(state.suggestion_confidence or 0.0),
            model_version=int(state.suggestion_version or 0),
        )
    return PageExtras(labels_today=state.labels_today, show_suggestion=state.show_suggestion, suggestion=suggestion)


@dataclass(frozen=True)
class QueueProgress:
    reviews: int
    done: int
    labels: int
    skipped: int
    holds: int
    resolved: int
    conflicts: int

    @property
    def remaining(self) -> int:
        return self.reviews - self.done

    @property
    def percent_done(self) -> float:
        return 100.0 * self.done / self.reviews if self.reviews else 0.0


def queue_progress(*, queue: LabellingQueue) -> QueueProgress:
    now = timezone.now()
    items = QueueItem.objects.filter(queue=queue)
    totals = items.aggregate(
        reviews=Count("id"),
        done=Count("id", filter=Q(is_done=True)),
        resolved=Count("id", filter=Q(review__resolution__isnull=False)),
        conflicts=Count("id", filter=Q(is_done=True, review__resolution__isnull=True)),
    )
    work = Assignment.objects.filter(queue=queue).aggregate(
        labels=Count("id", filter=Q(completed_at__isnull=False, skipped=False)),
        skipped=Count("id", filter=Q(skipped=True)),
        holds=Count("id", filter=Q(completed_at__isnull=True, expires_at__gt=now)),
    )
    return QueueProgress(**totals, **work)


@dataclass(frozen=True)
class AnalystProgress:
    user_id: int
    username: str
    labels: int = 0
    skipped: int = 0
    holding: int = 0
    today: int = 0
    gold_labels: int = 0
    gold_correct: int = 0

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_labels if self.gold_labels else None


def analyst_progress(*, queue: LabellingQueue) -> list[AnalystProgress]:
    """One row per analyst of the queue (and anyone else who labelled in it): labels, skips, today, accuracy."""
    now = timezone.now()
    work = {
        row["user_id"]: row
        for row in Assignment.objects.filter(queue=queue)
        .values("user_id")
        .annotate(
            labels=Count("id", filter=Q(completed_at__isnull=False, skipped=False)),
            skipped=Count("id", filter=Q(skipped=True)),
            holding=Count("id", filter=Q(completed_at__isnull=True, expires_at__gt=now)),
        )
        .order_by()
    }
    today = dict(
        Annotation.objects.filter(queue=queue, created_at__gte=start_of_today())
        .values("user_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("user_id", "n")
    )
    accuracy = {row.annotator: row for row in _gold_accuracy(Annotation.objects.filter(queue=queue))}
    user_ids = set(work) | set(queue.annotators.values_list("pk", flat=True))
    names = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"))
    rows = []
    for user_id in sorted(user_ids, key=lambda pk: names.get(pk, "")):
        counts: Mapping[str, Any] = work.get(user_id, {})
        gold = accuracy.get(user_id)
        rows.append(
            AnalystProgress(
                user_id=user_id,
                username=names.get(user_id, f"user {user_id}"),
                labels=counts.get("labels", 0),
                skipped=counts.get("skipped", 0),
                holding=counts.get("holding", 0),
                today=today.get(user_id, 0),
                gold_labels=gold.labels if gold else 0,
                gold_correct=gold.correct if gold else 0,
            )
        )
    return rows


def _gold_accuracy(annotations: QuerySet[Annotation]) -> list[GoldAccuracy]:
    rows = annotations.filter(review__gold_label__isnull=False).values_list("user_id", "label", "review__gold_label")
    # The filter keeps reviews with a gold label only, so the third value is never None.
    return gold_accuracy(cast("Iterator[tuple[int, int, int]]", rows.iterator(chunk_size=10_000)))


@dataclass(frozen=True)
class AgreementSummary:
    report: AgreementReport
    accuracy: list[GoldAccuracy]
    usernames: dict[int, str] = field(default_factory=dict)

    def name(self, user_id: int) -> str:
        return self.usernames.get(user_id, f"user {user_id}")

    @property
    def pair_rows(self) -> list[tuple[str, str, PairAgreement]]:
        return [(self.name(pair.first), self.name(pair.second), pair) for pair in self.report.pairs]

    @property
    def accuracy_rows(self) -> list[tuple[str, GoldAccuracy]]:
        return [(self.name(row.annotator), row) for row in self.accuracy]


def agreement_summary(*, queue: LabellingQueue | None = None) -> AgreementSummary:
    """Agreement between annotators (every pair and overall) and each one's accuracy against gold labels.

    With a queue, only the labels given in it count.
    """
    annotations = Annotation.objects.all() if queue is None else Annotation.objects.filter(queue=queue)
    shared = annotations.values("review_id").annotate(n=Count("id")).filter(n__gte=2).values("review_id")
    labels_by_review: dict[int, dict[int, int]] = {}
    rows = annotations.filter(review_id__in=shared).values_list("review_id", "user_id", "label")
    for review_id, user_id, label in rows.iterator(chunk_size=10_000):
        labels_by_review.setdefault(review_id, {})[user_id] = label
    report = agreement_report(labels_by_review)
    accuracy = _gold_accuracy(annotations)
    user_ids = {row.annotator for row in accuracy}
    for pair in report.pairs:
        user_ids |= {pair.first, pair.second}
    usernames = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"))
    return AgreementSummary(report=report, accuracy=accuracy, usernames=usernames)


@dataclass(frozen=True)
class Conflict:
    review: Review
    labels: list[tuple[str, int]]
    reason: str
    suggestion: Prediction | None


def conflict_reviews(*, queue: LabellingQueue | None = None) -> QuerySet[Review]:
    """Reviews with all the labels a queue asks for and no resolution: the annotators disagree."""
    items = QueueItem.objects.filter(is_done=True, review__resolution__isnull=True)
    if queue is not None:
        items = items.filter(queue=queue)
    return Review.objects.filter(pk__in=items.values("review_id")).order_by("pk")


def conflict_list(*, queue: LabellingQueue | None = None, limit: int = CONFLICTS_PAGE) -> list[Conflict]:
    return conflicts_for(list(conflict_reviews(queue=queue)[:limit]))


def conflicts_for(reviews: list[Review]) -> list[Conflict]:
    """Each review's labels (who said what), why it is a conflict, and the current model's suggestion."""
    labels: dict[int, list[tuple[str, int]]] = {}
    for review_id, username, label in (
        Annotation.objects.filter(review__in=reviews)
        .order_by("review_id", "created_at")
        .values_list("review_id", "user__username", "label")
    ):
        labels.setdefault(review_id, []).append((username, label))
    suggestions = _current_suggestions([review.pk for review in reviews])
    return [
        Conflict(
            review=review,
            labels=labels.get(review.pk, []),
            reason=conflict_reason([label for _, label in labels.get(review.pk, [])], gold_label=review.gold_label),
            suggestion=suggestions.get(review.pk),
        )
        for review in reviews
    ]


def _current_suggestions(review_ids: list[int]) -> dict[int, Prediction]:
    predictions = (
        Prediction.objects.filter(review_id__in=review_ids, source=PredictionSource.BATCH, model_version__is_current=True)
        .order_by("review_id", "created_at", "pk")
        .only("review_id", "label", "confidence", "prob_positive", "prob_negative", "model_version_id")
    )
    # The filter keeps these reviews' predictions only, none without a review.
    return {prediction.review_id: prediction for prediction in predictions if prediction.review_id is not None}


def resolution_counts() -> dict[str, int]:
    """How many reviews each resolution method resolved."""
    return dict(Resolution.objects.values("method").annotate(n=Count("id")).order_by().values_list("method", "n"))


def queue_detail(pk: Any) -> LabellingQueue | None:
    return LabellingQueue.objects.select_related("pool_snapshot", "pool_import", "ordered_with").filter(pk=pk).first()
