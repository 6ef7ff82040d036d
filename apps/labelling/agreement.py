"""Agreement between annotators and the rules that turn several labels into one: plain Python, no database.

- **Percent agreement** of two analysts: of the reviews both labelled, the share they labelled alike.
- **Cohen's kappa** of two analysts: ``(p_o - p_e) / (1 - p_e)``, where ``p_o`` is their percent
  agreement and ``p_e`` the agreement expected by chance from each one's own share of positive labels
  on those reviews: ``p_e = pos_a * pos_b + (1 - pos_a) * (1 - pos_b)``. It is undefined (None) when
  ``p_e`` is 1: both gave one and the same label to everything, so agreement says nothing.
- **Overall**: percent agreement pooled over every pair of labels given to the same review, and kappa
  as the mean of the pairwise kappas that are defined (Light's kappa, Cohen's kappa for more than two
  annotators).
- **Accuracy against gold**: of an analyst's labels on reviews with a gold label, the share that match it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import NamedTuple

from apps.labelling.choices import ResolutionMethod
from apps.reviews.choices import Label


@dataclass(frozen=True)
class PairAgreement:
    first: int
    second: int
    reviews: int
    agreed: int
    kappa: float | None

    @property
    def percent(self) -> float:
        return 100.0 * self.agreed / self.reviews if self.reviews else 0.0


@dataclass(frozen=True)
class AgreementReport:
    pairs: list[PairAgreement]
    reviews: int
    label_pairs: int
    agreed_pairs: int
    kappa: float | None

    @property
    def percent(self) -> float | None:
        return 100.0 * self.agreed_pairs / self.label_pairs if self.label_pairs else None


def cohens_kappa(first: list[int], second: list[int]) -> float | None:
    """Cohen's kappa of two equally long lists of 0/1 labels, the same review at the same index."""
    if len(first) != len(second):
        raise ValueError("Both annotators' labels must cover the same reviews.")
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second)) / n
    positive_first = sum(first) / n
    positive_second = sum(second) / n
    expected = positive_first * positive_second + (1 - positive_first) * (1 - positive_second)
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


def agreement_report(labels_by_review: Mapping[int, Mapping[int, int]]) -> AgreementReport:
    """Agreement figures from ``{review id: {annotator id: label}}``; reviews with one label count for nothing."""
    shared: dict[tuple[int, int], tuple[list[int], list[int]]] = {}
    reviews = 0
    for labels in labels_by_review.values():
        if len(labels) < 2:
            continue
        reviews += 1
        for first, second in combinations(sorted(labels), 2):
            lists = shared.setdefault((first, second), ([], []))
            lists[0].append(labels[first])
            lists[1].append(labels[second])
    pairs = [
        PairAgreement(
            first=first,
            second=second,
            reviews=len(first_labels),
            agreed=sum(a == b for a, b in zip(first_labels, second_labels)),
            kappa=cohens_kappa(first_labels, second_labels),
        )
        for (first, second), (first_labels, second_labels) in sorted(shared.items())
    ]
    kappas = [pair.kappa for pair in pairs if pair.kappa is not None]
    return AgreementReport(
        pairs=pairs,
        reviews=reviews,
        label_pairs=sum(pair.reviews for pair in pairs),
        agreed_pairs=sum(pair.agreed for pair in pairs),
        kappa=sum(kappas) / len(kappas) if kappas else None,
    )


class GoldAccuracy(NamedTuple):
    annotator: int
    labels: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.labels if self.labels else 0.0


def gold_accuracy(rows: Iterable[tuple[int, int, int]]) -> list[GoldAccuracy]:
    """Per annotator, how many of their ``(annotator id, label, gold label)`` rows match the gold label."""
    totals: Counter[int] = Counter()
    correct: Counter[int] = Counter()
    for annotator, label, gold in rows:
        totals[annotator] += 1
        correct[annotator] += int(label == gold)
    return [GoldAccuracy(annotator, totals[annotator], correct[annotator]) for annotator in sorted(totals)]


class Resolved(NamedTuple):
    label: int
    method: ResolutionMethod
    reason: str


def resolve_labels(labels: list[int], *, gold_label: int | None) -> Resolved | None:
    """The one label a review's annotations come to, or None when an ML admin has to settle it.

    - A review with a gold label keeps it (method ``gold``) unless most annotators contradict it: that
      is a conflict, possible label noise, for an ML admin to settle.
    - Otherwise all annotators alike give ``unanimous`` (one annotator alone counts as unanimous), a
      strict majority gives ``majority``, and a tie is a conflict.
    """
    if not labels:
        return None
    counts = Counter(labels)
    tally = _tally(counts)
    top_label, top_count = max(counts.items(), key=lambda item: (item[1], item[0]))
    has_majority = top_count * 2 > len(labels)
    if gold_label is not None:
        if has_majority and top_label != gold_label:
            return None
        return Resolved(gold_label, ResolutionMethod.GOLD, f"Gold label from the dataset ({tally}).")
    if len(counts) == 1:
        who = "the only annotator" if len(labels) == 1 else f"all {len(labels)} annotators"
        return Resolved(top_label, ResolutionMethod.UNANIMOUS, f"{who.capitalize()} said {Label(top_label).label}.")
    if has_majority:
        said = f"{top_count} of {len(labels)} annotators said {Label(top_label).label}"
        return Resolved(top_label, ResolutionMethod.MAJORITY, f"{said} ({tally}).")
    return None


def conflict_reason(labels: list[int], *, gold_label: int | None) -> str:
    """Why ``resolve_labels`` left these labels for an ML admin."""
    counts = Counter(labels)
    if gold_label is not None:
        gold = Label(gold_label).label
        return f"The annotators ({_tally(counts)}) contradict the gold label, {gold}: possible label noise."
    return f"The annotators are split evenly ({_tally(counts)})."


def _tally(counts: Counter[int]) -> str:
    return ", ".join(f"{counts[label.value]} {label.label}" for label in reversed(Label) if counts[label.value])
