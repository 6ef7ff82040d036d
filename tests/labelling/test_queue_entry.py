"""New reviews join the queues whose pools grow without a Reorder; undoing a label reopens the review elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User

from apps.labelling.models import QueueItem
from apps.labelling.services import annotation_create, annotation_undo, assignment_next
from apps.reviews.imports import ImportRunner
from apps.reviews.models import Review
from apps.reviews.services import NewReview, review_create_many
from apps.reviews.snapshots import snapshot_create
from tests.labelling.conftest import MakeQueue, MakeReviews, api_as, make_user

pytestmark = pytest.mark.django_db


def label_everything(queue: object, user: User) -> list[int]:
    labelled = []
    while (assignment := assignment_next(queue=queue, user=user)) is not None:
        annotation_create(queue=queue, user=user, review_id=assignment.review_id, label=1)
        labelled.append(assignment.review_id)
    return labelled


def test_reviews_sent_to_the_api_join_the_unlabelled_queue_at_the_end_of_its_order(
    make_reviews: MakeReviews, make_queue: MakeQueue, admin: User, alice: User
) -> None:
    old = make_reviews(3)
    queue = make_queue("unlabelled", pool="unlabelled", annotators=[alice])
    first = assignment_next(queue=queue, user=alice)
    assert first.review_id in {review.pk for review in old}

    answer = api_as(admin).post(
        "/api/reviews/bulk/", {"reviews": [{"text": "A new one, just in."}, {"text": "Another new one."}]}, format="json"
    )
    assert answer.status_code == 201, answer.content
    new = set(Review.objects.filter(text__contains="new one").values_list("pk", flat=True))

    annotation_create(queue=queue, user=alice, review_id=first.review_id, label=1)
    labelled = label_everything(queue, alice)
    # The old reviews first (their order stays), the new ones after them, with no Reorder in between.
    assert set(labelled[:2]) == {review.pk for review in old} - {first.review_id}
    assert set(labelled[2:]) == new
    ranks = dict(QueueItem.objects.filter(queue=queue).values_list("review_id", "rank"))
    assert min(ranks[pk] for pk in new) > max(ranks[review.pk] for review in old)


def test_a_gold_labelled_review_joins_the_all_reviews_queue_but_not_the_unlabelled_one(
    make_queue: MakeQueue, make_reviews: MakeReviews, alice: User
) -> None:
    make_reviews(2)
    unlabelled = make_queue("unlabelled", pool="unlabelled")
    everything = make_queue("all", pool="all")

    [created] = review_create_many(reviews=[NewReview(text="Gold already.", gold_label=1)])

    assert QueueItem.objects.filter(queue=everything, review=created.review).exists()
    assert not QueueItem.objects.filter(queue=unlabelled, review=created.review).exists()


def test_an_import_puts_its_new_reviews_in_the_growing_queues_but_not_in_a_snapshot_queue(
    make_queue: MakeQueue, make_reviews: MakeReviews, tmp_path: Path
) -> None:
    make_reviews(gold=[1, 0] * 5)
    snapshot = snapshot_create(seed=1)
    frozen = make_queue("frozen", pool="snapshot_split", pool_snapshot=snapshot, pool_split="train")
    everything = make_queue("all", pool="all")
    source = tmp_path / "new.csv"
    source.write_text("review,sentiment\nFresh review one,positive\nFresh review two,negative\n", encoding="utf-8")

    job = ImportRunner.submit(enqueue=False, source=str(source), source_name="fresh")
    ImportRunner.handle(job.pk)

    fresh = set(Review.objects.filter(source="fresh").values_list("pk", flat=True))
    assert len(fresh) == 2
    added = QueueItem.objects.filter(queue=everything, review_id__in=fresh)
    assert added.count() == 2 and min(added.values_list("rank", flat=True)) >= 10
    assert not QueueItem.objects.filter(queue=frozen, review_id__in=fresh).exists()


def test_undoing_the_label_that_resolved_a_review_reopens_it_in_the_other_queues(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User
) -> None:
    [review] = make_reviews(1)
    mine = make_queue("alice's", annotators=[alice])
    theirs = make_queue("bob's", annotators=[bob])
    held = assignment_next(queue=mine, user=alice)
    annotation_create(queue=mine, user=alice, review_id=held.review_id, label=1)
    assert assignment_next(queue=theirs, user=bob) is None  # resolved: done everywhere

    annotation_undo(queue=mine, user=alice)

    reopened = assignment_next(queue=theirs, user=bob)
    assert reopened is not None and reopened.review_id == review.pk
    assert not QueueItem.objects.get(queue=theirs, review=review).is_done


def test_undo_leaves_a_review_done_in_a_queue_that_still_has_all_its_labels(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User, carol: User
) -> None:
    [review] = make_reviews(1)
    dave = make_user("dave", "analyst")
    pair = make_queue("pair", annotators=[bob, dave, carol], overlap=2)
    single = make_queue("single", annotators=[alice])
    for user, label in ((bob, 1), (dave, 0)):
        annotation_create(queue=pair, user=user, review_id=assignment_next(queue=pair, user=user).review_id, label=label)
    assert QueueItem.objects.get(queue=pair, review=review).is_done  # a tie: a conflict, both labels in
    annotation_create(queue=single, user=alice, review_id=assignment_next(queue=single, user=alice).review_id, label=1)
    assert Review.objects.get(pk=review.pk).resolution.method == "majority"

    annotation_undo(queue=single, user=alice)

    assert not hasattr(Review.objects.get(pk=review.pk), "resolution")
    assert QueueItem.objects.get(queue=pair, review=review).is_done
    assert assignment_next(queue=pair, user=carol) is None
