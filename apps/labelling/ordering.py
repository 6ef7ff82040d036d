"""A queue's order: which reviews its pool holds and in what order analysts get them.

The order is computed once and stored as ``QueueItem`` rows (review, rank), so that handing out the
next review walks an index in rank order instead of sorting the whole pool on every request. It is
recomputed when a queue is created, when its strategy or overlap changes, and on demand (new batch
predictions, new reviews in the pool): ``queue_order_rebuild``.

Strategies:

- ``random``: a shuffle seeded by the queue's id, so the same pool always comes in the same order.
- ``uncertainty``: the reviews the current model is least sure of first (its confidence, from its
  latest batch prediction of each review, ascending). Reviews it has not predicted come last.
- ``suspicious``: reviews whose gold label the current model contradicts, most confident contradiction
  first; then the rest of the labelled reviews, the weakest agreement first. The score is the
  probability the model gives the review's label, ascending. Unlabelled or unpredicted reviews come last.

Ties, and the reviews that come last, keep the random order.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from apps.labelling.choices import QueuePool, QueueStrategy
from apps.labelling.models import Assignment, LabellingQueue, QueueItem, Resolution
from apps.predictions.choices import PredictionSource
from apps.predictions.models import Prediction
from apps.registry.models import ModelVersion
from apps.reviews.models import Review

INSERT_BATCH_SIZE = 5_000


@dataclass(frozen=True)
class QueueOrder:
    """What a rebuild found: the pool's size, how many reviews the model's predictions cover, and with which model."""

    reviews: int
    predicted: int
    done: int
    model_version: ModelVersion | None

    @property
    def summary(self) -> str:
        if self.model_version is None:
            return f"{self.reviews:,} reviews in random order."
        return (
            f"{self.reviews:,} reviews ordered by the batch predictions of model version {self.model_version.pk}, "
            f"which cover {self.predicted:,} of them (the rest come last, in random order)."
        )


def pool_reviews(queue: LabellingQueue) -> QuerySet[Review]:
    """The reviews a queue's pool names."""
    if queue.pool == QueuePool.UNLABELLED:
        return Review.objects.filter(gold_label__isnull=True)
    if queue.pool == QueuePool.SNAPSHOT_SPLIT:
        return Review.objects.filter(
            snapshot_items__snapshot_id=queue.pool_snapshot_id, snapshot_items__split=queue.pool_split
        )
    if queue.pool == QueuePool.IMPORT:
        return Review.objects.filter(import_job_id=queue.pool_import_id)
    if queue.pool == QueuePool.ALL:
        return Review.objects.all()
    raise ValueError(f"Queue {queue.pk} has an unknown pool {queue.pool!r}.")


def latest_batch_predictions(version: ModelVersion, reviews: QuerySet[Review]) -> dict[int, tuple[int, float]]:
    """``{review id: (predicted label, probability of positive)}`` from the version's latest batch prediction of each."""
    rows = (
        Prediction.objects.filter(model_version=version, source=PredictionSource.BATCH, review__in=reviews.values("id"))
        .order_by("review_id", "created_at", "id")
        .values_list("review_id", "label", "prob_positive")
    )
    # Later rows overwrite earlier ones: each review keeps its latest prediction.
    return {review_id: (label, prob_positive) for review_id, label, prob_positive in rows.iterator(chunk_size=20_000)}


def order_reviews(
    reviews: Sequence[tuple[int, int | None]],
    *,
    strategy: str,
    seed: str,
    predictions: dict[int, tuple[int, float]],
) -> list[tuple[int, float | None]]:
    """``(review id, score)`` in queue order for ``(review id, gold label)`` rows; a pure function of its inputs."""
    shuffled = sorted(reviews)
    random.Random(seed).shuffle(shuffled)
    position = {review_id: index for index, (review_id, _) in enumerate(shuffled)}
    if strategy == QueueStrategy.RANDOM:
        return [(review_id, None) for review_id, _ in shuffled]

    def score(review_id: int, gold_label: int | None) -> float | None:
        prediction = predictions.get(review_id)
        if prediction is None:
            return None
        _, prob_positive = prediction
        if strategy == QueueStrategy.UNCERTAINTY:
            return max(prob_positive, 1 - prob_positive)
        if gold_label is None:
            return None
        return prob_positive if gold_label == 1 else 1 - prob_positive

    scored = [(review_id, score(review_id, gold_label)) for review_id, gold_label in shuffled]
    scored.sort(key=lambda row: (row[1] is None, row[1] if row[1] is not None else 0.0, position[row[0]]))
    return scored


def queue_order_rebuild(*, queue: LabellingQueue) -> QueueOrder:
    """Recompute the queue's order from its pool and the current model's batch predictions, in one transaction.

    Labels already given stay: a review with enough labels in this queue, or a resolution, stays done.
    """
    from apps.registry.selectors import current_model_version

    reviews = pool_reviews(queue)
    rows = list(reviews.order_by("id").values_list("id", "gold_label"))
    version = current_model_version() if queue.strategy != QueueStrategy.RANDOM else None
    predictions = latest_batch_predictions(version, reviews) if version is not None else {}
    ordered = order_reviews(rows, strategy=queue.strategy, seed=f"queue-{queue.pk}", predictions=predictions)
    with transaction.atomic():
        done = _done_review_ids(queue, reviews)
        QueueItem.objects.filter(queue=queue).delete()
        _insert_items(queue, ordered, done)
        queue.ordered_at = timezone.now()
        queue.ordered_with = version
        queue.save(update_fields=["ordered_at", "ordered_with"])
    return QueueOrder(
        reviews=len(ordered),
        predicted=sum(review_id in predictions for review_id, _ in rows),
        done=sum(review_id in done for review_id, _ in ordered),
        model_version=version,
    )


def _done_review_ids(queue: LabellingQueue, reviews: QuerySet[Review]) -> set[int]:
    resolved = set(Resolution.objects.filter(review__in=reviews.values("id")).values_list("review_id", flat=True))
    labelled_enough = set(
        Assignment.objects.filter(queue=queue, completed_at__isnull=False, skipped=False)
        .values("review_id")
        .annotate(labels=Count("id"))
        .filter(labels__gte=queue.overlap)
        .values_list("review_id", flat=True)
    )
    return resolved | labelled_enough


def _insert_items(queue: LabellingQueue, ordered: list[tuple[int, float | None]], done: set[int]) -> None:
    rows = [(queue.pk, review_id, rank, score, review_id in done) for rank, (review_id, score) in enumerate(ordered)]
    if _has_copy():
        quote = connection.ops.quote_name
        meta = QueueItem._meta
        columns = ", ".join(quote(meta.get_field(name).column) for name in ("queue", "review", "rank", "score", "is_done"))
        statement = f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return
    QueueItem.objects.bulk_create(
        (
            QueueItem(queue_id=queue_id, review_id=review_id, rank=rank, score=score, is_done=is_done)
            for queue_id, review_id, rank, score, is_done in rows
        ),
        batch_size=INSERT_BATCH_SIZE,
    )


def _has_copy() -> bool:
    if connection.vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return is_psycopg3


def items_mark_done(*, review_id: int) -> None:
    """A review that got a resolution needs no more labels in any queue."""
    QueueItem.objects.filter(review_id=review_id, is_done=False).update(is_done=True)
