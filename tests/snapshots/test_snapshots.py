from __future__ import annotations

import hashlib
import math
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.db import IntegrityError
from pytest_django import DjangoAssertNumQueries

from apps.reviews.choices import LabelSource
from apps.reviews import snapshots
from apps.reviews.models import DatasetSnapshot, Review, SnapshotItem
from apps.reviews.snapshots import (
    SnapshotError,
    assign_splits,
    snapshot_create,
    snapshot_examples,
    snapshot_label_counts,
)
from tests.snapshots.conftest import MakeReviews, Resolve

pytestmark = pytest.mark.django_db


def frozen_rows(snapshot: DatasetSnapshot) -> list[tuple[int, int, str, int]]:
    return list(snapshot.items.order_by("review_id").values_list("review_id", "label", "split", "position"))


def label_counts_by_split(snapshot: DatasetSnapshot) -> dict[str, Counter[int]]:
    counts: dict[str, Counter[int]] = {"train": Counter(), "validation": Counter(), "test": Counter()}
    for split, label in snapshot.items.values_list("split", "label"):
        counts[split][label] += 1
    return counts


# Sizes and balance


def test_the_default_split_is_80_10_10_with_both_labels_balanced_in_every_split(make_reviews: MakeReviews) -> None:
    make_reviews(positive=500, negative=500, unlabelled=200)

    snapshot = snapshot_create()

    assert (snapshot.train_count, snapshot.validation_count, snapshot.test_count) == (800, 100, 100)
    assert (snapshot.positive_count, snapshot.negative_count) == (500, 500)
    assert snapshot.size == 1000 == snapshot.items.count()
    assert label_counts_by_split(snapshot) == {
        "train": Counter({0: 400, 1: 400}),
        "validation": Counter({0: 50, 1: 50}),
        "test": Counter({0: 50, 1: 50}),
    }
    assert snapshot_label_counts(snapshot=snapshot) == {
        "train": {0: 400, 1: 400},
        "validation": {0: 50, 1: 50},
        "test": {0: 50, 1: 50},
    }


def test_unbalanced_labels_keep_their_proportion_in_every_split(make_reviews: MakeReviews) -> None:
    make_reviews(positive=703, negative=301)

    snapshot = snapshot_create(train_fraction=0.7, validation_fraction=0.15, test_fraction=0.15)

    overall = 703 / 1004
    assert (snapshot.train_count, snapshot.validation_count, snapshot.test_count) == (703, 151, 150)
    for split, counts in label_counts_by_split(snapshot).items():
        share = counts[1] / (counts[0] + counts[1])
        assert abs(share - overall) < 0.01, f"{split}: {share:.3f} positive, overall {overall:.3f}"


def test_the_imdb_sized_default_gives_40000_5000_5000_half_positive() -> None:
    rows = [(review_id, review_id % 2) for review_id in range(1, 50_001)]

    planned = assign_splits(rows, seed=42, fractions=(0.8, 0.1, 0.1))

    assert Counter((item.split, item.label) for item in planned) == {
        ("train", 0): 20_000,
        ("train", 1): 20_000,
        ("validation", 0): 2_500,
        ("validation", 1): 2_500,
        ("test", 0): 2_500,
        ("test", 1): 2_500,
    }


def test_positions_number_each_split_from_zero_with_labels_mixed(make_reviews: MakeReviews) -> None:
    make_reviews(positive=500, negative=500)

    snapshot = snapshot_create()

    for split, size in (("train", 800), ("validation", 100), ("test", 100)):
        labels = list(snapshot.items.filter(split=split).order_by("position").values_list("label", flat=True))
        positions = sorted(snapshot.items.filter(split=split).values_list("position", flat=True))
        assert positions == list(range(size))
        first_half_positive = sum(labels[: size // 2]) / (size // 2)
        assert 0.3 < first_half_positive < 0.7, "each split is shuffled, not one label after the other"


# Determinism


def test_the_same_seed_gives_the_same_hash_and_items(make_reviews: MakeReviews) -> None:
    make_reviews(positive=300, negative=300)

    first = snapshot_create(seed=7)
    second = snapshot_create(seed=7)

    assert first.pk != second.pk
    assert first.content_hash == second.content_hash
    assert frozen_rows(first) == frozen_rows(second)


def test_a_different_seed_gives_a_different_split(make_reviews: MakeReviews) -> None:
    make_reviews(positive=300, negative=300)

    first = snapshot_create(seed=1)
    second = snapshot_create(seed=2)

    assert first.content_hash != second.content_hash
    assert {row[0] for row in frozen_rows(first) if row[2] == "test"} != {
        row[0] for row in frozen_rows(second) if row[2] == "test"
    }
    assert (first.train_count, first.validation_count, first.test_count) == (
        second.train_count,
        second.validation_count,
        second.test_count,
    )


def test_the_split_does_not_depend_on_the_order_rows_arrive_in() -> None:
    rows = [(review_id, review_id % 3 % 2) for review_id in range(1, 2_001)]

    in_order = assign_splits(rows, seed=42, fractions=(0.8, 0.1, 0.1))
    reversed_order = assign_splits(list(reversed(rows)), seed=42, fractions=(0.8, 0.1, 0.1))

    assert in_order == reversed_order


def test_the_content_hash_is_sha256_over_sorted_id_label_split_lines(make_reviews: MakeReviews) -> None:
    make_reviews(positive=40, negative=40)

    snapshot = snapshot_create()

    lines = "".join(f"{review_id},{label},{split}\n" for review_id, label, split, _ in frozen_rows(snapshot))
    assert snapshot.content_hash == hashlib.sha256(lines.encode("ascii")).hexdigest()


# Label sources


def test_gold_labels_leave_out_reviews_without_one(make_reviews: MakeReviews) -> None:
    labelled = make_reviews(positive=20, negative=20)
    make_reviews(unlabelled=30)

    snapshot = snapshot_create(label_source=LabelSource.GOLD)

    assert snapshot.label_source == "gold"
    assert {row[0]: row[1] for row in frozen_rows(snapshot)} == {review.pk: review.gold_label for review in labelled}


def test_human_labels_come_from_resolutions(make_reviews: MakeReviews, resolve: Resolve) -> None:
    unlabelled = make_reviews(unlabelled=40)
    make_reviews(positive=50, negative=50)
    resolve(unlabelled[:25], 1)
    resolve(unlabelled[25:], 0)

    snapshot = snapshot_create(label_source=LabelSource.HUMAN)

    expected = {review.pk: 1 for review in unlabelled[:25]} | {review.pk: 0 for review in unlabelled[25:]}
    assert {row[0]: row[1] for row in frozen_rows(snapshot)} == expected
    assert (snapshot.positive_count, snapshot.negative_count) == (25, 15)


def test_gold_and_human_takes_the_gold_label_where_there_is_one(make_reviews: MakeReviews, resolve: Resolve) -> None:
    gold = make_reviews(positive=20, negative=20)
    unlabelled = make_reviews(unlabelled=30)
    resolve(unlabelled[:20], 1)
    # A disagreeing resolution on gold-labelled reviews does not override the gold label.
    resolve(gold[:10], 1 - gold[0].gold_label)

    snapshot = snapshot_create(label_source="gold_and_human")

    expected = {review.pk: review.gold_label for review in gold} | {review.pk: 1 for review in unlabelled[:20]}
    assert {row[0]: row[1] for row in frozen_rows(snapshot)} == expected
    assert snapshot.size == 60


# Bad input


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        ((0.9, 0.1, 0.0), "every split needs a positive fraction"),
        ((0.9, 0.2, -0.1), "every split needs a positive fraction"),
        ((0.7, 0.1, 0.1), "must add up to 1"),
        ((0.8, 0.1, 0.2), "must add up to 1"),
        ((math.nan, 0.1, 0.1), "must be a number"),
    ],
)
def test_bad_fractions_are_refused_with_a_message(
    make_reviews: MakeReviews, fractions: tuple[float, float, float], message: str
) -> None:
    make_reviews(positive=50, negative=50)
    train, validation, test = fractions

    with pytest.raises(SnapshotError, match=message):
        snapshot_create(train_fraction=train, validation_fraction=validation, test_fraction=test)

    assert not DatasetSnapshot.objects.exists()


def test_fractions_within_a_millionth_of_one_are_accepted(make_reviews: MakeReviews) -> None:
    make_reviews(positive=50, negative=50)

    snapshot = snapshot_create(train_fraction=0.8, validation_fraction=0.1, test_fraction=0.1000005)

    assert snapshot.train_fraction + snapshot.validation_fraction + snapshot.test_fraction == pytest.approx(1, abs=1e-12)
    assert (snapshot.train_count, snapshot.validation_count, snapshot.test_count) == (80, 10, 10)


def test_no_gold_labels_gives_a_message_that_says_to_import(make_reviews: MakeReviews) -> None:
    make_reviews(unlabelled=10)

    with pytest.raises(SnapshotError, match="no reviews with a gold label.*import_reviews"):
        snapshot_create()


def test_no_resolved_labels_gives_a_message_that_says_to_label(make_reviews: MakeReviews) -> None:
    make_reviews(positive=10, negative=10)

    with pytest.raises(SnapshotError, match="No review has a resolved human label"):
        snapshot_create(label_source=LabelSource.HUMAN)


def test_a_split_that_would_be_empty_is_refused(make_reviews: MakeReviews) -> None:
    make_reviews(positive=3, negative=2)

    with pytest.raises(SnapshotError, match="test split would be empty.*5 labelled review"):
        snapshot_create()

    assert not DatasetSnapshot.objects.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"label_source": "crowd"}, "Unknown label source 'crowd'"),
        ({"seed": -1}, "seed must be a whole number"),
        ({"name": "x" * 201}, "keep it to 200 or fewer"),
    ],
)
def test_other_bad_arguments_are_refused(make_reviews: MakeReviews, arguments: dict[str, object], message: str) -> None:
    make_reviews(positive=10, negative=10)

    with pytest.raises(SnapshotError, match=message):
        snapshot_create(**arguments)  # type: ignore[arg-type]


@pytest.mark.django_db(transaction=True)
def test_a_failed_write_leaves_no_half_made_snapshot(make_reviews: MakeReviews, monkeypatch: pytest.MonkeyPatch) -> None:
    reviews = make_reviews(positive=50, negative=50)
    # A review deleted between reading the labels and writing the items: the database refuses the items.
    vanished_review_id = max(review.pk for review in reviews) + 1_000
    read_labelled_rows = snapshots._labelled_rows
    monkeypatch.setattr(
        snapshots, "_labelled_rows", lambda source: [*read_labelled_rows(source), (vanished_review_id, 1)]
    )

    with pytest.raises(IntegrityError):
        snapshot_create()

    assert not DatasetSnapshot.objects.exists()
    assert not SnapshotItem.objects.exists()


# Immutability


def test_a_snapshot_keeps_its_data_when_labels_change_and_others_are_made(make_reviews: MakeReviews) -> None:
    reviews = make_reviews(positive=100, negative=100)
    first = snapshot_create(seed=3)
    rows_before = frozen_rows(first)

    Review.objects.filter(pk__in=[review.pk for review in reviews[:30]]).update(gold_label=1)
    make_reviews(positive=50, negative=50)
    second = snapshot_create(seed=3)

    first.refresh_from_db()
    assert frozen_rows(first) == rows_before
    assert (first.train_count, first.positive_count, first.negative_count) == (160, 100, 100)
    assert second.size == 300
    assert second.content_hash != first.content_hash


# Reading examples for training


def test_examples_come_in_position_order_with_text_and_label_in_one_query(
    make_reviews: MakeReviews, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    make_reviews(positive=50, negative=50)
    snapshot = snapshot_create()
    items = list(snapshot.items.filter(split="validation").order_by("position").select_related("review"))

    with django_assert_num_queries(1):
        examples = snapshot_examples(snapshot=snapshot, split="validation")

    assert examples == [(item.review_id, item.review.text, item.label) for item in items]
    assert len(examples) == 10


def test_examples_of_an_unknown_split_are_refused(make_reviews: MakeReviews) -> None:
    make_reviews(positive=50, negative=50)
    snapshot = snapshot_create()

    with pytest.raises(SnapshotError, match="Unknown split 'dev'"):
        snapshot_examples(snapshot=snapshot, split="dev")


# The command


def test_the_command_prints_the_id_counts_per_split_and_label_and_the_hash(make_reviews: MakeReviews) -> None:
    make_reviews(positive=500, negative=500)
    out = StringIO()

    call_command("create_snapshot", "--name", "first", "--seed", "5", stdout=out)

    snapshot = DatasetSnapshot.objects.get()
    printed = out.getvalue()
    assert f"Created snapshot {snapshot.pk}: first" in printed
    assert "Labels: gold, seed 5, fractions 0.8 / 0.1 / 0.1" in printed
    lines = [line.split() for line in printed.splitlines()]
    assert ["split", "negative", "positive", "total"] in lines
    assert ["train", "400", "400", "800"] in lines
    assert ["validation", "50", "50", "100"] in lines
    assert ["test", "50", "50", "100"] in lines
    assert ["total", "500", "500", "1,000"] in lines
    assert f"Content hash: {snapshot.content_hash}" in printed


def test_the_command_passes_fractions_labels_and_description(make_reviews: MakeReviews, resolve: Resolve) -> None:
    resolve(make_reviews(unlabelled=100), 0)
    out = StringIO()

    call_command(
        "create_snapshot",
        "--labels", "human", "--train", "0.6", "--validation", "0.2", "--test", "0.2",
        "--description", "analysts' first batch",
        stdout=out,
    )

    snapshot = DatasetSnapshot.objects.get()
    assert (snapshot.label_source, snapshot.description) == ("human", "analysts' first batch")
    assert (snapshot.train_count, snapshot.validation_count, snapshot.test_count) == (60, 20, 20)


def test_the_command_reports_bad_input_as_an_error(make_reviews: MakeReviews) -> None:
    make_reviews(positive=50, negative=50)

    with pytest.raises(CommandError, match="must add up to 1"):
        call_command("create_snapshot", "--train", "0.5", stdout=StringIO())


def test_the_command_writes_errors_to_stderr_and_exits_non_zero(
    make_reviews: MakeReviews, capsys: pytest.CaptureFixture[str]
) -> None:
    make_reviews(unlabelled=5)

    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "create_snapshot"])

    captured = capsys.readouterr()
    assert exit_info.value.code == 1
    assert "no reviews with a gold label" in captured.err
    assert captured.out == ""
