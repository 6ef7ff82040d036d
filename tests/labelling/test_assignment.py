"""Handing out reviews: one analyst at a time per review unless overlap asks for more, holds that expire, skips."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from apps.labelling.models import Assignment
from apps.labelling.errors import NotAnAnnotator, QueueInactive
from apps.labelling.services import annotation_create, assignment_next, assignment_skip, queue_update
from tests.labelling.conftest import MakeQueue, MakeReviews

pytestmark = pytest.mark.django_db


def test_a_reload_gives_the_same_review_until_it_is_labelled(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User
) -> None:
    make_reviews(3)
    queue = make_queue()

    first = assignment_next(queue=queue, user=alice)
    again = assignment_next(queue=queue, user=alice)
    annotation_create(queue=queue, user=alice, review_id=first.review_id, label="positive")
    after = assignment_next(queue=queue, user=alice)

    assert again.pk == first.pk
    assert after.review_id != first.review_id
    assert abs(first.expires_at - first.assigned_at - timedelta(minutes=30)) < timedelta(seconds=5)


def test_two_analysts_get_different_reviews_with_overlap_one(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User
) -> None:
    make_reviews(2)
    queue = make_queue()

    mine = assignment_next(queue=queue, user=alice)
    theirs = assignment_next(queue=queue, user=bob)

    assert mine.review_id != theirs.review_id
    annotation_create(queue=queue, user=alice, review_id=mine.review_id, label="positive")
    # The only other review is bob's; alice has nothing left.
    assert assignment_next(queue=queue, user=alice) is None


def test_with_overlap_two_both_analysts_get_every_review_and_a_third_none(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User, carol: User
) -> None:
    reviews = make_reviews(3)
    queue = make_queue(overlap=2, annotators=[alice, bob, carol])

    seen: dict[str, list[int]] = {"alice": [], "bob": [], "carol": []}
    for _ in range(3):
        for user in (alice, bob):
            assignment = assignment_next(queue=queue, user=user)
            seen[user.username].append(assignment.review_id)
            annotation_create(queue=queue, user=user, review_id=assignment.review_id, label="positive")

    assert sorted(seen["alice"]) == sorted(seen["bob"]) == [review.pk for review in reviews]
    assert assignment_next(queue=queue, user=carol) is None


def test_a_held_review_counts_against_the_overlap(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User, carol: User
) -> None:
    (review,) = make_reviews(1)
    queue = make_queue(overlap=2, annotators=[alice, bob, carol])

    assert assignment_next(queue=queue, user=alice).review_id == review.pk
    assert assignment_next(queue=queue, user=bob).review_id == review.pk
    assert assignment_next(queue=queue, user=carol) is None


def test_an_expired_hold_goes_back_to_the_queue(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User
) -> None:
    (review,) = make_reviews(1)
    queue = make_queue()
    held = assignment_next(queue=queue, user=alice)
    assert assignment_next(queue=queue, user=bob) is None

    Assignment.objects.filter(pk=held.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert assignment_next(queue=queue, user=bob).review_id == review.pk


def test_a_skipped_review_goes_to_someone_else_and_never_back(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User
) -> None:
    (review,) = make_reviews(1)
    queue = make_queue()
    assignment_next(queue=queue, user=alice)

    assignment_skip(queue=queue, user=alice, review_id=review.pk)

    assert assignment_next(queue=queue, user=alice) is None
    assert assignment_next(queue=queue, user=bob).review_id == review.pk


def test_a_review_labelled_in_another_queue_is_not_handed_out_again(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User
) -> None:
    make_reviews(1)
    first, second = make_queue("first", overlap=2), make_queue("second", overlap=2)
    assignment = assignment_next(queue=first, user=alice)
    annotation_create(queue=first, user=alice, review_id=assignment.review_id, label="negative")

    assert assignment_next(queue=second, user=alice) is None


def test_analysts_the_queue_does_not_list_and_paused_queues_are_refused(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, carol: User
) -> None:
    make_reviews(1)
    queue = make_queue()

    with pytest.raises(NotAnAnnotator, match="not one of the analysts"):
        assignment_next(queue=queue, user=carol)
    queue_update(queue=queue, is_active=False)
    with pytest.raises(QueueInactive, match="paused"):
        assignment_next(queue=queue, user=alice)
