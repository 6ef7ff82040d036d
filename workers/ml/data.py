"""Reviews as plain Python values: cleaning, deterministic subsets and splits, IMDb parquet reading."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LABEL_NAMES = {0: "negative", 1: "positive"}

_BREAK_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


@dataclass
class Example:
    review_id: int
    text: str
    label: int


@dataclass
class SplitData:
    train: list[Example]
    validation: list[Example]
    test: list[Example]


def clean_text(text: str, lowercase: bool) -> str:
    """Normalise a review the same way for training and prediction.

    IMDb reviews carry literal `<br />` tags; left in, they become tokens that say nothing about sentiment.
    """
    cleaned = _WHITESPACE.sub(" ", without_break_tags(text)).strip()
    return cleaned.lower() if lowercase else cleaned


def without_break_tags(text: str) -> str:
    """The review with its `<br />` tags turned into spaces (and nothing else changed)."""
    return _BREAK_TAG.sub(" ", text)


def subset(examples: Sequence[Example], size: int, seed: int) -> list[Example]:
    """Pick `size` examples, keeping the label proportions, the same ones for the same seed."""
    if size >= len(examples):
        return list(examples)
    rng = random.Random(seed)
    by_label: dict[int, list[Example]] = {}
    for example in examples:
        by_label.setdefault(example.label, []).append(example)
    picked: list[Example] = []
    leftovers: list[Example] = []
    for label in sorted(by_label):
        group = by_label[label]
        rng.shuffle(group)
        quota = size * len(group) // len(examples)
        picked.extend(group[:quota])
        leftovers.extend(group[quota:])
    # Rounding down per label leaves a few places; fill them at random so no label is favoured.
    rng.shuffle(leftovers)
    picked.extend(leftovers[: size - len(picked)])
    rng.shuffle(picked)
    return picked


def split_examples(
    examples: Sequence[Example],
    *,
    seed: int = 42,
    train_fraction: float = 0.8,
    validation_fraction: float = 0.1,
) -> SplitData:
    """Reshuffle all examples with a seeded shuffle and cut them into train, validation and test.

    This is the seed project's 80/10/10 split; `random.Random` keeps it identical across numpy versions.
    """
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    train_end = int(len(order) * train_fraction)
    validation_end = train_end + int(len(order) * validation_fraction)
    shuffled = [examples[index] for index in order]
    return SplitData(
        train=shuffled[:train_end],
        validation=shuffled[train_end:validation_end],
        test=shuffled[validation_end:],
    )


def read_imdb_parquet(folder: Path, splits: Sequence[str] = ("train", "test")) -> list[Example]:
    """Read labelled IMDb reviews from `<folder>/<split>.parquet` (columns id, text, label).

    Review ids are row numbers across the splits in the order given, since the parquet ids are paths.
    """
    import pyarrow.parquet as pq

    examples: list[Example] = []
    for split in splits:
        table = pq.read_table(Path(folder) / f"{split}.parquet", columns=["text", "label"])
        for text, label in zip(table.column("text").to_pylist(), table.column("label").to_pylist()):
            if label in LABEL_NAMES:
                examples.append(Example(review_id=len(examples), text=text, label=int(label)))
    return examples
