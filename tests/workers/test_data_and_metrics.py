from __future__ import annotations

from collections import Counter

import pytest

from workers.ml.data import Example, clean_text, split_examples, subset
from workers.ml.metrics import classification_metrics


def test_cleaning_removes_break_tags_and_extra_whitespace() -> None:
    text = "Great  film.<br /><br />Loved\tit<br>\n THE END"

    assert clean_text(text, lowercase=True) == "great film. loved it the end"
    assert clean_text(text, lowercase=False) == "Great film. Loved it THE END"


def _examples(positives: int, negatives: int) -> list[Example]:
    labels = [1] * positives + [0] * negatives
    return [Example(review_id=index, text=f"review {index}", label=label) for index, label in enumerate(labels)]


def test_subset_keeps_label_proportions_and_is_repeatable() -> None:
    examples = _examples(positives=300, negatives=100)

    picked = subset(examples, 40, seed=7)

    assert Counter(example.label for example in picked) == {1: 30, 0: 10}
    assert [example.review_id for example in picked] == [example.review_id for example in subset(examples, 40, seed=7)]
    assert [example.review_id for example in picked] != [example.review_id for example in subset(examples, 40, seed=8)]


def test_subset_larger_than_the_data_returns_everything() -> None:
    examples = _examples(positives=3, negatives=2)

    assert subset(examples, 10, seed=1) == examples


def test_split_is_a_seeded_80_10_10_reshuffle() -> None:
    examples = _examples(positives=50, negatives=50)

    split = split_examples(examples, seed=42)

    assert (len(split.train), len(split.validation), len(split.test)) == (80, 10, 10)
    every_id = sorted(example.review_id for part in (split.train, split.validation, split.test) for example in part)
    assert every_id == list(range(100))
    assert split == split_examples(examples, seed=42)
    assert split.train[:10] != examples[:10]


def test_metrics_on_a_hand_checked_example() -> None:
    gold = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    predicted = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]  # tp 3, fn 1, fp 2, tn 4

    metrics = classification_metrics(gold, predicted)

    assert metrics["confusion_matrix"] == [[4, 2], [1, 3]]
    assert metrics["accuracy"] == pytest.approx(0.7)
    assert metrics["precision"] == pytest.approx(3 / 5)
    assert metrics["recall"] == pytest.approx(3 / 4)
    assert metrics["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    negative_f1 = 2 * (4 / 5) * (4 / 6) / (4 / 5 + 4 / 6)
    assert metrics["f1_macro"] == pytest.approx((metrics["f1"] + negative_f1) / 2)
    assert metrics["support"] == 10


def test_metrics_survive_empty_and_one_sided_inputs() -> None:
    empty = classification_metrics([], [])
    all_negative = classification_metrics([0, 0, 1], [0, 0, 0])

    assert empty["accuracy"] == 0.0 and empty["f1"] == 0.0 and empty["confusion_matrix"] == [[0, 0], [0, 0]]
    assert all_negative["precision"] == 0.0 and all_negative["f1"] == 0.0
    assert all_negative["accuracy"] == pytest.approx(2 / 3)


def test_metrics_refuse_unpaired_inputs() -> None:
    with pytest.raises(ValueError, match="2 gold labels but 1 predictions"):
        classification_metrics([0, 1], [1])
