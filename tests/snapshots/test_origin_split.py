"""The standard benchmark: a snapshot that keeps the source's own train/test split."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from apps.reviews.models import DatasetSnapshot, Review
from apps.reviews.snapshots import SnapshotError, assign_origin_splits, snapshot_create, snapshot_label_counts


def make_origin_reviews(*, train: int, test: int, without: int = 0) -> list[Review]:
    """Labelled reviews from the source's train half, its test half, and (``without``) from no split."""
    reviews = [
        Review(text=f"{origin} review {n}.", source="imdb", external_id=f"{origin}-{n}", gold_label=n % 2, origin_split=origin)
        for origin, count in (("train", train), ("test", test), ("", without))
        for n in range(count)
    ]
    return Review.objects.bulk_create(reviews)


@pytest.mark.django_db
def test_the_source_test_half_is_the_test_split_and_its_train_half_gives_train_and_validation() -> None:
    reviews = make_origin_reviews(train=100, test=60, without=7)
    test_ids = {review.pk for review in reviews if review.origin_split == "test"}

    snapshot = snapshot_create(keep_origin_split=True, validation_fraction=0.1)

    assert (snapshot.train_count, snapshot.validation_count, snapshot.test_count) == (90, 10, 60)
    assert set(snapshot.items.filter(split="test").values_list("review_id", flat=True)) == test_ids
    assert snapshot.keeps_origin_split and "source split" in snapshot.name
    assert (snapshot.train_fraction, snapshot.validation_fraction, snapshot.test_fraction) == (90 / 160, 10 / 160, 60 / 160)
    # Stratified: validation is half positive, like the train half.
    assert snapshot_label_counts(snapshot=snapshot)["validation"] == {0: 5, 1: 5}


def test_the_origin_split_is_a_pure_function_of_rows_and_seed() -> None:
    rows = [(n, n % 2, "train" if n < 40 else "test") for n in range(60)]

    first = assign_origin_splits(rows, seed=3, validation_fraction=0.25)
    again = assign_origin_splits(list(reversed(rows)), seed=3, validation_fraction=0.25)
    other = assign_origin_splits(rows, seed=4, validation_fraction=0.25)

    assert first == again
    assert {item.review_id for item in first if item.split == "validation"} != {
        item.review_id for item in other if item.split == "validation"
    }
    assert sorted(item.review_id for item in first if item.split == "test") == list(range(40, 60))


@pytest.mark.django_db
def test_reviews_without_a_source_split_get_a_message_saying_what_to_import() -> None:
    make_origin_reviews(train=0, test=0, without=20)

    with pytest.raises(SnapshotError, match="No labelled review comes from the source's train split"):
        snapshot_create(keep_origin_split=True)
    assert not DatasetSnapshot.objects.exists()


@pytest.mark.django_db
def test_a_validation_share_outside_zero_and_one_is_refused() -> None:
    make_origin_reviews(train=20, test=20)

    with pytest.raises(SnapshotError, match="share of the source's train half held out for validation"):
        snapshot_create(keep_origin_split=True, validation_fraction=1.0)


@pytest.mark.django_db
def test_the_command_keeps_the_origin_split_and_says_so() -> None:
    make_origin_reviews(train=50, test=30)
    out = StringIO()

    call_command("create_snapshot", "--keep-origin-split", "--validation", "0.2", stdout=out)

    snapshot = DatasetSnapshot.objects.get()
    assert (snapshot.train_count, snapshot.validation_count, snapshot.test_count) == (40, 10, 30)
    assert "(the source's own test split)" in out.getvalue()


@pytest.mark.django_db
def test_the_api_creates_the_benchmark_snapshot(admin_client: object) -> None:
    make_origin_reviews(train=50, test=30)

    response = admin_client.post(  # type: ignore[attr-defined]
        "/api/snapshots/", {"keep_origin_split": True, "validation_fraction": 0.1}, content_type="application/json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["keeps_origin_split"] is True
    assert (body["train_count"], body["validation_count"], body["test_count"]) == (45, 5, 30)
