"""The ORM statements of apps.labelling.sql_orm return exactly what the SQL ones of apps.labelling.sql return."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from apps.labelling import sql, sql_orm
from apps.labelling.models import (
    Annotation,
    Assignment,
    LabellingPreference,
    LabellingQueue,
    Resolution,
)
from apps.labelling.services import annotation_create, assignment_next
from apps.registry.models import ModelVersion
from apps.reviews.models import Review
from tests.labelling.conftest import MakeQueue, MakeReviews, Predict


@pytest.fixture
def world(
    make_reviews: MakeReviews, make_queue: MakeQueue, predict: Predict, alice: User, bob: User, carol: User
) -> dict[str, Any]:
    """Two queues (overlap 1 and 2) over 12 reviews, with labels, holds, skips, expired holds and a resolution."""
    reviews = make_reviews(gold=[1, 0, None, None, 1, None, None, None, 0, None, None, None])
    predict({review: 0.1 + 0.07 * index for index, review in enumerate(reviews[:9])})
    old = ModelVersion.objects.create(kind="tfidf", artifact_path="old-model", is_current=False)
    predict({reviews[0]: 0.99, reviews[3]: 0.01}, version=old)
    single = make_queue("single", strategy="uncertainty", annotators=[alice, bob, carol])
    double = make_queue("double", overlap=2, annotators=[alice, bob, carol])
    now = timezone.now()
    for queue in (single, double):
        for user in (alice, bob):
            for _ in range(2):
                assignment = assignment_next(queue=queue, user=user)
                assert assignment is not None
                annotation_create(queue=queue, user=user, review_id=assignment.review_id, label="positive")
        assert assignment_next(queue=queue, user=carol) is not None  # an open hold
        expired = assignment_next(queue=queue, user=bob)
        assert expired is not None
        Assignment.objects.filter(pk=expired.pk).update(expires_at=now - timedelta(minutes=1))
    skipped = assignment_next(queue=double, user=alice)
    assert skipped is not None
    Assignment.objects.filter(pk=skipped.pk).update(completed_at=now, skipped=True)
    Assignment.objects.create(queue=double, review=reviews[10], user=carol, expires_at=now + timedelta(minutes=5))
    Resolution.objects.create(review=reviews[11], label=1, method="settled")
    Annotation.objects.create(review=reviews[7], user=carol, label=0)  # labelled outside any queue
    LabellingPreference.objects.create(user=bob, show_suggestion=False)
    return {"reviews": reviews, "queues": [single, double], "users": [alice, bob, carol], "now": now}


def _run(statement: tuple[str, list[Any]]) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(*statement)
        return cursor.fetchone()


def test_next_item_picks_the_same_items_in_the_same_order(world: dict[str, Any]) -> None:
    for queue in world["queues"]:
        for user in world["users"]:
            for now in (world["now"], world["now"] + timedelta(hours=2)):
                passed: list[int] = []
                while True:
                    kwargs = {"queue_id": queue.pk, "overlap": queue.overlap, "user_id": user.pk, "now": now}
                    row = _run(sql.next_item(**kwargs, passed=passed))
                    assert _run(sql_orm.next_item(**kwargs, passed=passed)) == row, (queue.name, user.username)
                    if row is None:
                        break
                    passed.append(row[0])
                assert len(passed) < len(world["reviews"])


def test_next_item_locks_like_the_sql_one(world: dict[str, Any]) -> None:
    queue, user = world["queues"][0], world["users"][2]
    statement = sql_orm.next_item(queue_id=queue.pk, overlap=1, user_id=user.pk, now=world["now"])[0]
    if connection.features.has_select_for_update_skip_locked:
        assert statement.rstrip().endswith("FOR UPDATE OF " + connection.ops.quote_name("labelling_queueitem") + " SKIP LOCKED")
    else:
        assert "FOR UPDATE" not in statement


def test_live_count_open_holds_label_state_and_lock_items_agree(world: dict[str, Any]) -> None:
    later = world["now"] + timedelta(hours=2)
    counts = set()
    for queue in [*world["queues"], LabellingQueue(pk=0)]:
        for review in world["reviews"]:
            with connection.cursor() as cursor:
                for now in (world["now"], later):
                    expected = sql.live_count(cursor, queue_id=queue.pk, review_id=review.pk, now=now)
                    assert sql_orm.live_count(cursor, queue_id=queue.pk, review_id=review.pk, now=now) == expected
                    counts.add(expected)
            for user in world["users"]:
                ids = {"queue_id": queue.pk, "review_id": review.pk, "user_id": user.pk}
                assert sql_orm.label_state(**ids) == sql.label_state(**ids)
        for user in world["users"]:
            assert sql_orm.open_holds(queue_id=queue.pk, user_id=user.pk) == sql.open_holds(
                queue_id=queue.pk, user_id=user.pk
            )
    assert counts >= {0, 1, 2}
    for review_id in [review.pk for review in world["reviews"]] + [0]:
        assert sql_orm.lock_items(review_id) == sql.lock_items(review_id)
        ids = {"queue_id": world["queues"][0].pk, "review_id": review_id, "user_id": world["users"][0].pk}
        assert sql_orm.label_state(**ids) == sql.label_state(**ids)
    assert any(hold for user in world["users"] for hold in sql.open_holds(queue_id=world["queues"][1].pk, user_id=user.pk))


def test_page_state_agrees(world: dict[str, Any]) -> None:
    since = world["now"] - timedelta(hours=1)
    outsider = User.objects.create_user("nobody-here")
    seen = set()
    for user in [*world["users"], outsider]:
        for review_id in [None, 0, *(review.pk for review in world["reviews"])]:
            for moment in (since, world["now"] + timedelta(hours=1)):
                expected = sql.page_state(user_id=user.pk, since=moment, review_id=review_id)
                assert sql_orm.page_state(user_id=user.pk, since=moment, review_id=review_id) == expected
                seen.add((expected.labels_today > 0, expected.show_suggestion, expected.suggestion_label is not None))
    assert seen >= {(True, True, True), (True, False, False), (False, True, True), (False, True, False)}
    assert Review.objects.count() == 12
