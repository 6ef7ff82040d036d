"""Binary classification metrics, with the positive class (1) as the class of interest."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any


def _ratio(numerator: float, denominator: float) -> float:
    # Degenerate inputs (no positives predicted, an empty split) score 0 rather than raising.
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2 * precision * recall, precision + recall)


def classification_metrics(gold: Sequence[int], predicted: Sequence[int]) -> dict[str, Any]:
    """Accuracy, precision, recall and F1 of the positive class, macro F1 and the confusion matrix.

    The confusion matrix is [[tn, fp], [fn, tp]]: rows are gold labels, columns predictions.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"Got {len(gold)} gold labels but {len(predicted)} predictions; they must pair up.")
    tn = fp = fn = tp = 0
    for truth, guess in zip(gold, predicted):
        if truth == 1:
            tp += guess == 1
            fn += guess != 1
        else:
            fp += guess == 1
            tn += guess != 1
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    negative_f1 = _f1(_ratio(tn, tn + fn), _ratio(tn, tn + fp))
    positive_f1 = _f1(precision, recall)
    return {
        "accuracy": _ratio(tp + tn, len(gold)),
        "precision": precision,
        "recall": recall,
        "f1": positive_f1,
        "f1_macro": (positive_f1 + negative_f1) / 2,
        "confusion_matrix": [[tn, fp], [fn, tp]],
        "support": len(gold),
    }


# --- Slices: the same evaluation cut by what a review is ------------------------------------------------

SLICE_DIMENSIONS = {
    "length": "Review length (tokens, by quartile)",
    "rating": "Star rating",
    "source": "Source",
    "origin_split": "Origin split (the source's own)",
}
UNKNOWN = "unknown"


@dataclass(frozen=True)
class SliceRow:
    """One scored review with what the slices cut by: its length in tokens, rating, source and origin split."""

    gold: int
    predicted: int
    tokens: int
    rating: int | None = None
    source: str = ""
    origin_split: str = ""


def token_count(text: str) -> int:
    """Tokens as the slices count them: runs of non-space characters (words with their punctuation)."""
    return len(text.split())


def length_boundaries(tokens: Sequence[int]) -> list[int]:
    """The token counts at the three quartiles (nearest rank), so four slices of about a quarter each."""
    ordered = sorted(tokens)
    if not ordered:
        return []
    return [ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] for q in (0.25, 0.5, 0.75)]


def evaluation_slices(rows: Sequence[SliceRow]) -> list[dict[str, Any]]:
    """Counts and accuracy per slice, one group per dimension of ``SLICE_DIMENSIONS``.

    Length slices are token quartiles of these reviews: up to the first boundary, then up to each next
    one, then above the last; the boundaries are in the group, each slice names its token range (a
    quartile that repeats a boundary, many reviews of one length, is left out rather than shown empty).
    Rating slices are the star ratings present, and ``unknown`` for reviews without one.
    """
    boundaries = length_boundaries([row.tokens for row in rows])
    groups = [
        {
            "dimension": "length",
            "title": SLICE_DIMENSIONS["length"],
            "boundaries": boundaries,
            "slices": _length_slices(rows, boundaries),
        }
    ]
    keys: dict[str, Callable[[SliceRow], str]] = {
        "rating": lambda row: str(row.rating) if row.rating is not None else UNKNOWN,
        "source": lambda row: row.source or UNKNOWN,
        "origin_split": lambda row: row.origin_split or "none",
    }
    for dimension, key in keys.items():
        buckets: dict[str, list[SliceRow]] = {}
        for row in rows:
            buckets.setdefault(key(row), []).append(row)
        ordered = sorted(buckets, key=lambda value: _natural(value))
        groups.append(
            {
                "dimension": dimension,
                "title": SLICE_DIMENSIONS[dimension],
                "slices": [_slice(value, _slice_label(dimension, value), buckets[value]) for value in ordered],
            }
        )
    return groups


def _length_slices(rows: Sequence[SliceRow], boundaries: list[int]) -> list[dict[str, Any]]:
    if not rows:
        return []
    edges = [-1, *boundaries, max(row.tokens for row in rows)]
    slices = []
    for index, (low, high) in enumerate(pairwise(edges)):
        members = [row for row in rows if low < row.tokens <= high]
        if not members:
            continue
        first = min(row.tokens for row in members)
        label = f"{first}–{high} tokens" if first != high else f"{high} tokens"
        entry = _slice(f"q{index + 1}", label, members)
        entry.update(min_tokens=first, max_tokens=high)
        slices.append(entry)
    return slices


def _slice(value: str, label: str, members: Sequence[SliceRow]) -> dict[str, Any]:
    correct = sum(row.gold == row.predicted for row in members)
    return {
        "value": value,
        "label": label,
        "count": len(members),
        "correct": correct,
        "accuracy": _ratio(correct, len(members)),
        "positive": sum(row.gold == 1 for row in members),
    }


def _slice_label(dimension: str, value: str) -> str:
    if dimension == "rating":
        return "no rating" if value == UNKNOWN else f"{value} / 10"
    if dimension == "origin_split" and value == "none":
        return "no origin split"
    return value


def _natural(value: str) -> tuple[int, int, str]:
    """Numbers in numeric order first (ratings 1..10), then names, with "unknown" and "none" last."""
    if value in (UNKNOWN, "none"):
        return (2, 0, value)
    return (0, int(value), "") if value.isdigit() else (1, 0, value)
