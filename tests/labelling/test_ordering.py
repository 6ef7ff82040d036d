"""Queue order for each strategy, the pools, and what a reorder keeps."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from apps.labelling.choices import QueueStrategy
from apps.labelling.models import QueueItem
from apps.labelling.ordering import order_reviews, queue_order_rebuild
from apps.labelling.errors import QueueConfigError
from apps.labelling.services import annotation_create, assignment_next, queue_create, queue_update
from apps.registry.models import ModelVersion
from apps.reviews.choices import Split
from apps.reviews.models import DatasetSnapshot, ImportJob, SnapshotItem
from tests.labelling.conftest import MakeQueue, MakeReviews, Predict

pytestmark = pytest.mark.django_db


def served_order(queue, user: User) -> list[int]:
    """The review ids the analyst is given, one after another, labelling each."""
    ids = []
    while (assignment := assignment_next(queue=queue, user=user)) is not None:
        ids.append(assignment.review_id)
        annotation_create(queue=queue, user=user, review_id=assignment.review_id, label="positive")
    return ids


def test_random_order_is_a_shuffle_seeded_by_the_queue(make_reviews: MakeReviews, make_queue: MakeQueue) -> None:
    reviews = make_reviews(30)

    queue = make_queue()
    first = list(QueueItem.objects.filter(queue=queue).order_by("rank").values_list("review_id", flat=True))
    queue_order_rebuild(queue=queue)
    again = list(QueueItem.objects.filter(queue=queue).order_by("rank").values_list("review_id", flat=True))

    assert sorted(first) == [review.pk for review in reviews]
    assert first != sorted(first)
    assert again == first


def test_random_order_is_the_order_analysts_get(make_reviews: MakeReviews, make_queue: MakeQueue, alice: User) -> None:
    make_reviews(8)
    queue = make_queue()
    ranked = list(QueueItem.objects.filter(queue=queue).order_by("rank").values_list("review_id", flat=True))

    assert served_order(queue, alice) == ranked


def test_uncertainty_puts_what_the_model_is_least_sure_of_first(
    make_reviews: MakeReviews, make_queue: MakeQueue, predict: Predict, alice: User
) -> None:
    sure, unsure, middling, unsure_negative, unpredicted = make_reviews(5)
    predict({sure: 0.99, unsure: 0.55, middling: 0.2, unsure_negative: 0.4})

    queue = make_queue(strategy=QueueStrategy.UNCERTAINTY)

    # Confidence: unsure 0.55, unsure_negative 0.6, middling 0.8, sure 0.99; no prediction last.
    assert served_order(queue, alice) == [unsure.pk, unsure_negative.pk, middling.pk, sure.pk, unpredicted.pk]
    assert queue.ordered_with is not None and queue.ordered_with.is_current


def test_uncertainty_uses_the_latest_batch_prediction_of_the_current_model_only(
    make_reviews: MakeReviews, make_queue: MakeQueue, predict: Predict, alice: User
) -> None:
    first, second = make_reviews(2)
    older = ModelVersion.objects.create(kind="tfidf", artifact_path="older")
    predict({first: 0.99, second: 0.5}, version=older)
    predict({first: 0.5, second: 0.9})
    predict({first: 0.95})

    queue = make_queue(strategy=QueueStrategy.UNCERTAINTY)

    # Current model: second 0.9; first's latest prediction is 0.95 (its earlier 0.5 is stale).
    assert served_order(queue, alice) == [second.pk, first.pk]


def test_suspicious_puts_confident_contradictions_of_the_label_first(
    make_reviews: MakeReviews, make_queue: MakeQueue, predict: Predict, alice: User
) -> None:
    agreed, mild_contradiction, strong_contradiction, weak_agreement, unlabelled = make_reviews(gold=[1, 1, 0, 0, None])
    predict(
        {
            agreed: 0.97,  # labelled positive, the model agrees strongly
            mild_contradiction: 0.3,  # labelled positive, the model says negative at 0.7
            strong_contradiction: 0.98,  # labelled negative, the model says positive at 0.98
            weak_agreement: 0.45,  # labelled negative, the model agrees at 0.55
            unlabelled: 0.99,
        }
    )

    queue = make_queue(strategy=QueueStrategy.SUSPICIOUS)

    assert served_order(queue, alice) == [
        strong_contradiction.pk,
        mild_contradiction.pk,
        weak_agreement.pk,
        agreed.pk,
        unlabelled.pk,
    ]
    scores = dict(QueueItem.objects.filter(queue=queue).values_list("review_id", "score"))
    assert scores[strong_contradiction.pk] == pytest.approx(0.02)
    assert scores[unlabelled.pk] is None


def test_order_reviews_is_a_pure_function() -> None:
    rows = [(3, None), (1, 1), (2, 0)]
    predictions = {1: (1, 0.6), 2: (1, 0.9), 3: (0, 0.2)}

    first = order_reviews(rows, strategy=QueueStrategy.UNCERTAINTY, seed="s", predictions=predictions)
    again = order_reviews(list(reversed(rows)), strategy=QueueStrategy.UNCERTAINTY, seed="s", predictions=predictions)

    assert first == again == [(1, 0.6), (3, 0.8), (2, 0.9)]


def test_the_pools(make_reviews: MakeReviews, make_queue: MakeQueue, admin: User) -> None:
    unlabelled = make_reviews(3)
    labelled = make_reviews(gold=[1, 0])
    job = ImportJob.objects.create(source="upload: x.csv", source_name="x")
    imported = make_reviews(2, import_job=job)
    snapshot = DatasetSnapshot.objects.create(name="s", content_hash="0" * 64)
    SnapshotItem.objects.bulk_create(
        [
            SnapshotItem(snapshot=snapshot, review=labelled[0], split=Split.TRAIN, label=1, position=0),
            SnapshotItem(snapshot=snapshot, review=labelled[1], split=Split.TEST, label=0, position=0),
        ]
    )

    def pool_of(queue) -> set[int]:
        return set(QueueItem.objects.filter(queue=queue).values_list("review_id", flat=True))

    assert pool_of(make_queue("u", pool="unlabelled")) == {r.pk for r in unlabelled + imported}
    assert pool_of(make_queue("i", pool="import", pool_import=job)) == {r.pk for r in imported}
    assert pool_of(make_queue("s", pool="snapshot_split", pool_snapshot=snapshot, pool_split="train")) == {labelled[0].pk}
    assert len(pool_of(make_queue("a", pool="all"))) == 7


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"pool": "snapshot_split"}, "pool_snapshot", "Choose the snapshot"),
        ({"pool": "import"}, "pool_import", "Choose the import"),
        ({"pool": "unlabelled", "strategy": "suspicious"}, "strategy", "the unlabelled pool has none"),
        ({"overlap": 0}, "overlap", "a whole number from 1 to 10"),
        ({"strategy": "loudest"}, "strategy", "Unknown strategy"),
        ({"name": " "}, "name", "Give the queue a name"),
    ],
)
def test_a_queue_asked_for_wrongly_is_refused_with_the_field_and_why(
    db: None, fields: dict, field: str, message: str
) -> None:
    arguments = {"name": "q", "pool": "all", **fields}
    with pytest.raises(QueueConfigError) as refused:
        queue_create(**arguments)

    assert message in refused.value.errors[field]


def test_only_analysts_can_work_a_queue(db: None, outsider: User) -> None:
    with pytest.raises(QueueConfigError) as refused:
        queue_create(name="q", pool="all", annotators=[outsider])

    assert "outsider" in refused.value.errors["annotators"]


def test_reordering_keeps_labels_given(
    make_reviews: MakeReviews, make_queue: MakeQueue, predict: Predict, alice: User, bob: User
) -> None:
    reviews = make_reviews(4)
    queue = make_queue()
    labelled = assignment_next(queue=queue, user=alice)
    annotation_create(queue=queue, user=alice, review_id=labelled.review_id, label="negative")
    predict({review: 0.5 + index / 10 for index, review in enumerate(reviews)})

    queue, order = queue_update(queue=queue, strategy=QueueStrategy.UNCERTAINTY)

    assert order is not None and order.done == 1 and order.predicted == 4
    done = set(QueueItem.objects.filter(queue=queue, is_done=True).values_list("review_id", flat=True))
    assert done == {labelled.review_id}
    assert labelled.review_id not in served_order(queue, bob)
