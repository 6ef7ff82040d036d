"""Labels: refusals with a message, resolution as labels come in, conflicts, settling, undo."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from apps.labelling.choices import ResolutionMethod
from apps.labelling.models import Annotation, Assignment, QueueItem, Resolution
from apps.labelling.selectors import conflict_list, labels_today
from apps.labelling.errors import (
    AlreadyLabelled,
    AlreadyResolved,
    HoldLost,
    InvalidLabel,
    LabellingRefused,
    NotAssigned,
    NothingToUndo,
)
from apps.labelling.resolutions import resolution_settle
from apps.labelling.services import annotation_create, annotation_undo, assignment_next
from tests.labelling.conftest import MakeQueue, MakeReviews

pytestmark = pytest.mark.django_db


def label_next(queue, user: User, label: str):
    assignment = assignment_next(queue=queue, user=user)
    return annotation_create(queue=queue, user=user, review_id=assignment.review_id, label=label)


@pytest.mark.parametrize("label", ["neutral", "", 2, -1, None, True, "posit1ve"])
def test_a_label_outside_positive_and_negative_is_refused(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, label: object
) -> None:
    make_reviews(1)
    queue = make_queue()
    assignment = assignment_next(queue=queue, user=alice)

    with pytest.raises(InvalidLabel, match="label a review positive or negative"):
        annotation_create(queue=queue, user=alice, review_id=assignment.review_id, label=label)
    assert not Annotation.objects.exists()


def test_labelling_a_review_not_assigned_to_you_is_refused(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User
) -> None:
    make_reviews(2)
    queue = make_queue()
    bobs = assignment_next(queue=queue, user=bob)

    with pytest.raises(NotAssigned, match="is not assigned to you"):
        annotation_create(queue=queue, user=alice, review_id=bobs.review_id, label="positive")
    assert not Annotation.objects.exists()


def test_labelling_an_already_resolved_review_is_refused(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, admin: User
) -> None:
    make_reviews(1)
    queue = make_queue()
    assignment = assignment_next(queue=queue, user=alice)
    resolution_settle(review=assignment.review, label="negative", reason="obvious sarcasm", by=admin)

    with pytest.raises(AlreadyResolved, match="already resolved"):
        annotation_create(queue=queue, user=alice, review_id=assignment.review_id, label="positive")


def test_labelling_twice_is_refused(make_reviews: MakeReviews, make_queue: MakeQueue, alice: User) -> None:
    make_reviews(1)
    queue = make_queue(overlap=2)
    assignment = assignment_next(queue=queue, user=alice)
    annotation_create(queue=queue, user=alice, review_id=assignment.review_id, label="positive")

    with pytest.raises(AlreadyLabelled, match="press undo"):
        annotation_create(queue=queue, user=alice, review_id=assignment.review_id, label="negative")


def test_an_expired_hold_can_still_be_labelled_while_nobody_else_took_the_review(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User
) -> None:
    make_reviews(1)
    queue = make_queue()
    mine = assignment_next(queue=queue, user=alice)
    Assignment.objects.filter(pk=mine.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    annotation_create(queue=queue, user=alice, review_id=mine.review_id, label="positive")

    assert Resolution.objects.get(review_id=mine.review_id).method == ResolutionMethod.UNANIMOUS


def test_an_expired_hold_another_analyst_took_over_is_refused(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User
) -> None:
    make_reviews(1)
    queue = make_queue()
    mine = assignment_next(queue=queue, user=alice)
    Assignment.objects.filter(pk=mine.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert assignment_next(queue=queue, user=bob).review_id == mine.review_id

    with pytest.raises(HoldLost, match="another analyst has it now"):
        annotation_create(queue=queue, user=alice, review_id=mine.review_id, label="positive")
    assert not Annotation.objects.exists()


def test_one_label_resolves_a_review_when_the_queue_asks_for_one(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User
) -> None:
    make_reviews(1)
    queue = make_queue()

    outcome = label_next(queue, alice, "positive")

    assert (outcome.resolution.label, outcome.resolution.method) == (1, ResolutionMethod.UNANIMOUS)
    assert outcome.resolution.reason == "The only annotator said positive."
    assert labels_today(user=alice) == 1


def test_with_overlap_the_review_resolves_when_the_last_label_comes_in(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User, carol: User
) -> None:
    make_reviews(1)
    queue = make_queue(overlap=3, annotators=[alice, bob, carol])

    assert label_next(queue, alice, "positive").resolution is None
    assert label_next(queue, bob, "negative").resolution is None
    outcome = label_next(queue, carol, "positive")

    assert (outcome.resolution.label, outcome.resolution.method) == (1, ResolutionMethod.MAJORITY)
    assert outcome.resolution.reason == "2 of 3 annotators said positive (2 positive, 1 negative)."


def test_a_tie_is_a_conflict_an_ml_admin_settles(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User, admin: User
) -> None:
    (review,) = make_reviews(1)
    queue = make_queue(overlap=2)
    label_next(queue, alice, "positive")

    outcome = label_next(queue, bob, "negative")

    assert outcome.conflict and outcome.resolution is None
    [conflict] = conflict_list()
    assert conflict.review == review
    assert conflict.labels == [("alice", 1), ("bob", 0)]
    assert conflict.reason == "The annotators are split evenly (1 positive, 1 negative)."

    resolution = resolution_settle(review=review, label="negative", reason="Sarcastic praise.", by=admin)

    assert (resolution.label, resolution.method, resolution.reason, resolution.settled_by) == (
        0, ResolutionMethod.SETTLED, "Sarcastic praise.", admin,
    )
    assert conflict_list() == []


def test_annotators_contradicting_the_gold_label_make_a_conflict(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User
) -> None:
    make_reviews(gold=[0])
    queue = make_queue(overlap=2)
    label_next(queue, alice, "positive")
    outcome = label_next(queue, bob, "positive")

    assert outcome.conflict
    assert "contradict the gold label, negative" in conflict_list()[0].reason


def test_annotators_agreeing_with_the_gold_label_resolve_to_gold(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User
) -> None:
    make_reviews(gold=[0])
    queue = make_queue(overlap=2)
    label_next(queue, alice, "negative")
    outcome = label_next(queue, bob, "positive")

    assert (outcome.resolution.label, outcome.resolution.method) == (0, ResolutionMethod.GOLD)


def test_settling_needs_a_reason(make_reviews: MakeReviews, admin: User) -> None:
    (review,) = make_reviews(1)

    with pytest.raises(LabellingRefused, match="Say why"):
        resolution_settle(review=review, label="positive", reason="  ", by=admin)
    assert not Resolution.objects.exists()


def test_undo_takes_back_the_last_label_and_its_resolution(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User
) -> None:
    make_reviews(2)
    queue = make_queue()
    first = label_next(queue, alice, "positive").annotation
    current = assignment_next(queue=queue, user=alice)

    undone = annotation_undo(queue=queue, user=alice)

    assert undone.review_id == first.review_id
    assert not Annotation.objects.exists() and not Resolution.objects.exists()
    assert not QueueItem.objects.get(queue=queue, review_id=first.review_id).is_done
    # The undone review comes back first; after it, the review that was showing.
    assert assignment_next(queue=queue, user=alice).review_id == first.review_id
    annotation_create(queue=queue, user=alice, review_id=first.review_id, label="negative")
    assert assignment_next(queue=queue, user=alice).review_id == current.review_id
    assert Resolution.objects.get(review_id=first.review_id).label == 0


def test_undo_with_nothing_to_undo_or_a_settled_review_is_refused(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, admin: User
) -> None:
    make_reviews(1)
    queue = make_queue()
    with pytest.raises(NothingToUndo):
        annotation_undo(queue=queue, user=alice)
    annotation = label_next(queue, alice, "positive").annotation
    resolution_settle(review=annotation.review, label="negative", reason="Reread it.", by=admin)

    with pytest.raises(AlreadyResolved, match="settled"):
        annotation_undo(queue=queue, user=alice)
    assert Annotation.objects.count() == 1
