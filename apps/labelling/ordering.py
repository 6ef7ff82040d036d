"""A queue's order: which reviews its pool holds and in what order analysts get them.

The order is computed once and stored as ``QueueItem`` rows (review, rank), so that handing out the
next review walks an index in rank order instead of sorting the whole pool on every request. It is
recomputed when a queue is created, when its strategy or overlap changes, after new batch predictions
of the current model or a label-noise detection, and on demand: ``queue_order_rebuild``.

Strategies:

- ``random``: a shuffle seeded by the queue's id, so the same pool always comes in the same order.
- ``uncertainty``: the reviews the current model is least sure of first (its confidence, from its
  latest batch prediction of each review, ascending). Reviews it has not predicted come last.
- ``suspicious``: where a label-noise detection checked a review's gold label (``apps.labelling.noise``),
  the labels it flagged come first, then the rest it checked, each by the out-of-sample probability of
  the label (its label quality), ascending. The reviews no detection checked follow as before one
  existed: by the probability the current model gives their label, ascending (a model trained on those
  very labels, so it hides the noise it memorised). Unlabelled or unscored reviews come last.

Ties, and the reviews that come last, keep the random order.

New reviews enter the pools that grow (unlabelled, all) at the end of their queues' order, where the
strategies put reviews with no prediction and no detection score anyway: ``queues_take_in_new_reviews``
runs in the transaction that creates them (imports, the reviews API), so no Reorder is needed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from apps.common.choices import JobStatus
from apps.labelling import sql
from apps.labelling.choices import QueuePool, QueueStrategy
from apps.labelling.models import (
    Assignment,
    LabellingQueue,
    NoiseDetection,
    NoiseScore,
    QueueItem,
    Resolution,
)
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
    # Reviews ordered by a label-noise detection's out-of-sample label quality (suspicious queues).
    noise_scored: int = 0

    @property
    def summary(self) -> str:
        if self.noise_scored:
            return (
                f"{self.reviews:,} reviews; {self.noise_scored:,} ordered by label-noise detection (flagged labels "
                f"first, lowest out-of-sample label quality first), the rest by the current model's batch predictions."
            )
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
    label_quality: dict[int, tuple[float, bool]] | None = None,
) -> list[tuple[int, float | None]]:
    """``(review id, score)`` in queue order for ``(review id, gold label)`` rows; a pure function of its inputs.

    ``label_quality`` (suspicious only): ``{review id: (out-of-sample probability of its label, flagged)}``.
    """
    shuffled = sorted(reviews)
    random.Random(seed).shuffle(shuffled)
    position = {review_id: index for index, (review_id, _) in enumerate(shuffled)}
    if strategy == QueueStrategy.RANDOM:
        return [(review_id, None) for review_id, _ in shuffled]
    quality = label_quality if strategy == QueueStrategy.SUSPICIOUS and label_quality else {}

    def score(review_id: int, gold_label: int | None) -> tuple[int, float | None]:
        """(group, score): flagged by a detection, checked by one, scored by the model, unscored."""
        if gold_label is not None and review_id in quality:
            label_score, flagged = quality[review_id]
            return (0 if flagged else 1), label_score
        prediction = predictions.get(review_id)
        if prediction is None:
            return 3, None
        _, prob_positive = prediction
        if strategy == QueueStrategy.UNCERTAINTY:
            return 2, max(prob_positive, 1 - prob_positive)
        if gold_label is None:
            return 3, None
        return 2, prob_positive if gold_label == 1 else 1 - prob_positive

    scored = [(review_id, *score(review_id, gold_label)) for review_id, gold_label in shuffled]
    scored.sort(key=lambda row: (row[1], row[2] if row[2] is not None else 0.0, position[row[0]]))
    return [(review_id, value) for review_id, _, value in scored]


def latest_label_quality(review_ids: Any, *, succeeding: NoiseDetection | None = None) -> dict[int, tuple[float, bool]]:
    """``{review id: (label quality, flagged)}`` from the latest succeeded detection of each review that
    checked its gold label (a detection of another label says nothing about this one).

    ``succeeding``: a detection whose success this transaction is recording; it counts as the latest.
    """
    succeeded = Q(detection__status=JobStatus.SUCCEEDED)
    if succeeding is not None:
        succeeded |= Q(detection_id=succeeding.pk)
    rows = (
        NoiseScore.objects.filter(succeeded, review_id__in=review_ids, label=F("review__gold_label"))
        .order_by("review_id", F("detection__finished_at").asc(nulls_last=True), "detection_id")
        .values_list("review_id", "quality", "is_issue")
    )
    # Later rows overwrite earlier ones: each review keeps its latest detection's verdict.
    return {review_id: (quality, is_issue) for review_id, quality, is_issue in rows.iterator(chunk_size=20_000)}


def queue_order_rebuild(*, queue: LabellingQueue, succeeding_detection: NoiseDetection | None = None) -> QueueOrder:
    """Recompute the queue's order from its pool, the current model's batch predictions and, for a
    suspicious queue, the latest label-noise detections; in one transaction.

    Labels already given stay: a review with enough labels in this queue, or a resolution, stays done.
    ``succeeding_detection``: a detection whose success this transaction records (its scores count).
    """
    from apps.registry.selectors import current_model_version

    reviews = pool_reviews(queue)
    rows = list(reviews.order_by("id").values_list("id", "gold_label"))
    version = current_model_version() if queue.strategy != QueueStrategy.RANDOM else None
    predictions = latest_batch_predictions(version, reviews) if version is not None else {}
    quality = (
        latest_label_quality(reviews.values("id"), succeeding=succeeding_detection)
        if queue.strategy == QueueStrategy.SUSPICIOUS
        else {}
    )
    ordered = order_reviews(
        rows, strategy=queue.strategy, seed=f"queue-{queue.pk}", predictions=predictions, label_quality=quality
    )
    with transaction.atomic():
        # The queue's lock: an import taking new reviews into it waits, and its reviews are not lost.
        LabellingQueue.objects.select_for_update().filter(pk=queue.pk).exists()
        done = _done_review_ids(queue, reviews)
        QueueItem.objects.filter(queue=queue).delete()
        _insert_items(queue, ordered, done)
        # Reviews created after the pool was read above (committed since) go at the end, as new ones do.
        _append_missing(queue, first_rank=len(ordered))
        queue.ordered_at = timezone.now()
        queue.ordered_with = version
        queue.save(update_fields=["ordered_at", "ordered_with"])
    return QueueOrder(
        reviews=len(ordered),
        predicted=sum(review_id in predictions for review_id, _ in rows),
        done=sum(review_id in done for review_id, _ in ordered),
        model_version=version,
        noise_scored=sum(review_id in quality and gold is not None for review_id, gold in rows),
    )


def queues_take_in_new_reviews(*, reviews: QuerySet[Review] | None = None) -> int:
    """Put the new ``reviews`` (by default any review a growing pool has gained) at the end of the order of
    the queues whose pools grow (unlabelled, all).

    Called in the transaction that creates reviews, so they are in the queues the moment they exist.
    New reviews have no prediction and no detection score: every strategy puts them last anyway, here
    in the queue's seeded random order. Naming the new reviews keeps the check to them (an API call
    that adds one review does not look through the whole pool). Returns how many items were added.
    """
    added = 0
    growing = LabellingQueue.objects.filter(pool__in=[QueuePool.UNLABELLED, QueuePool.ALL]).order_by("pk")
    with transaction.atomic():
        for queue in growing.select_for_update():
            last = QueueItem.objects.filter(queue=queue).order_by("-rank").values_list("rank", flat=True).first()
            added += _append_missing(queue, first_rank=0 if last is None else last + 1, among=reviews)
    return added


def _append_missing(queue: LabellingQueue, *, first_rank: int, among: QuerySet[Review] | None = None) -> int:
    """Add the pool's reviews (of ``among``, if given) the queue holds no item for, from ``first_rank`` on.

    The caller holds the queue's lock.
    """
    if queue.pool not in (QueuePool.UNLABELLED, QueuePool.ALL):
        return 0
    candidates = pool_reviews(queue)
    if among is not None:
        candidates = candidates.filter(pk__in=among.values("pk"))
    missing = sorted(candidates.exclude(queue_items__queue=queue).values_list("id", flat=True))
    if not missing:
        return 0
    random.Random(f"queue-{queue.pk}-{first_rank}").shuffle(missing)
    rows = [(queue.pk, review_id, first_rank + offset, None, False) for offset, review_id in enumerate(missing)]
    _copy_items(rows)
    return len(rows)


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
    _copy_items([(queue.pk, review_id, rank, score, review_id in done) for rank, (review_id, score) in enumerate(ordered)])


def _copy_items(rows: Sequence[tuple[int, int, int, float | None, bool]]) -> None:
    """Write ``(queue id, review id, rank, score, is_done)`` rows: COPY on PostgreSQL, bulk inserts elsewhere."""
    if _has_copy():
        columns = sql.columns(QueueItem, ("queue", "review", "rank", "score", "is_done"))
        statement = f"COPY {sql.table(QueueItem)} ({columns}) FROM STDIN"
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
