"""Analysts asking at the same moment, each in a thread with its own PostgreSQL connection.

No review goes to two analysts unless the queue's overlap asks for it, and no review gets more labels
than the overlap. These run on the real database, where ``SELECT ... FOR UPDATE SKIP LOCKED`` does the work.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections

from apps.labelling.models import Annotation, Assignment, LabellingQueue
from apps.labelling.services import annotation_create, assignment_next
from tests.labelling.conftest import MakeQueue, MakeReviews, make_user

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL: use `make test`"),
]


def run_together(workers: list[Callable[[], Any]]) -> list[Any]:
    """Start every worker in its own thread at the same instant; re-raise the first error."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)
    errors: list[BaseException] = []

    def run(index: int, work: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = work()
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index, work)) for index, work in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def label_until_done(queue: LabellingQueue, user: User) -> list[int]:
    labelled = []
    while (assignment := assignment_next(queue=queue, user=user)) is not None:
        annotation_create(queue=queue, user=user, review_id=assignment.review_id, label="positive")
        labelled.append(assignment.review_id)
    return labelled


def test_two_analysts_asking_at_once_never_get_the_same_review(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User
) -> None:
    make_reviews(20)
    queue = make_queue()

    handed_out = []
    for _ in range(10):
        first, second = run_together(
            [lambda: assignment_next(queue=queue, user=alice), lambda: assignment_next(queue=queue, user=bob)]
        )
        # Whoever comes second skips the row the first one holds locked and takes the next review.
        assert first is not None and second is not None
        assert first.review_id != second.review_id
        handed_out += [first.review_id, second.review_id]
        # Both label, so the next round races for the next two reviews at the head of the queue.
        annotation_create(queue=queue, user=alice, review_id=first.review_id, label="positive")
        annotation_create(queue=queue, user=bob, review_id=second.review_id, label="negative")

    assert len(set(handed_out)) == 20
    assert Assignment.objects.count() == 20


def test_two_analysts_labelling_a_whole_queue_at_once_share_it_without_duplicates(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User
) -> None:
    reviews = make_reviews(60)
    queue = make_queue()

    alices, bobs = run_together([lambda: label_until_done(queue, alice), lambda: label_until_done(queue, bob)])

    assert set(alices).isdisjoint(bobs)
    assert sorted(alices + bobs) == sorted(review.pk for review in reviews)
    assert alices and bobs
    assert max(Counter(Annotation.objects.values_list("review_id", flat=True)).values()) == 1


def test_eight_analysts_at_once_with_overlap_two_give_every_review_exactly_two_labels(
    make_reviews: MakeReviews, make_queue: MakeQueue
) -> None:
    reviews = make_reviews(40)
    analysts = [make_user(f"analyst{n}", "analyst") for n in range(8)]
    queue = make_queue(overlap=2, annotators=analysts)

    labelled = run_together([lambda user=user: label_until_done(queue, user) for user in analysts])

    labels_per_review = Counter(Annotation.objects.values_list("review_id", flat=True))
    assert labels_per_review == {review.pk: 2 for review in reviews}
    assert all(len(ids) == len(set(ids)) for ids in labelled)
