"""Binary classification metrics, with the positive class (1) as the class of interest."""

from __future__ import annotations

from collections.abc import Sequence
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
