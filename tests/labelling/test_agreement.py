"""Agreement figures on a small example checked by hand, and the rules that resolve a review's labels."""

from __future__ import annotations

import pytest

from apps.labelling.agreement import agreement_report, cohens_kappa, gold_accuracy, resolve_labels
from apps.labelling.choices import ResolutionMethod

P, N = 1, 0

# Ten reviews labelled by analysts 1 (A) and 2 (B); analyst 3 (C) labelled the first four only.
A = [P, P, P, P, P, P, N, N, N, N]
B = [P, P, P, P, N, N, N, N, N, P]
C = [P, P, N, N]


def example() -> dict[int, dict[int, int]]:
    labels: dict[int, dict[int, int]] = {}
    for review, (a, b) in enumerate(zip(A, B)):
        labels[review] = {1: a, 2: b}
    for review, c in enumerate(C):
        labels[review][3] = c
    return labels


def test_cohens_kappa_of_two_analysts_matches_the_hand_computation() -> None:
    # A and B agree on reviews 0-3 (both positive) and 6-8 (both negative): 7 of 10, p_o = 0.7.
    # A said positive 6 times in 10 (0.6), B 5 times (0.5), so chance agreement is
    # p_e = 0.6 * 0.5 + 0.4 * 0.5 = 0.30 + 0.20 = 0.5, and kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
    assert cohens_kappa(A, B) == pytest.approx(0.4)


def test_the_report_gives_each_pair_and_the_overall_figures() -> None:
    report = agreement_report(example())

    pairs = {(pair.first, pair.second): pair for pair in report.pairs}
    assert (pairs[1, 2].reviews, pairs[1, 2].agreed) == (10, 7)
    assert pairs[1, 2].percent == pytest.approx(70.0)
    assert pairs[1, 2].kappa == pytest.approx(0.4)
    # A and C on reviews 0-3: A P P P P, C P P N N agree on 2 of 4, p_o = 0.5. A is always positive
    # (1.0), C half the time (0.5): p_e = 1.0 * 0.5 + 0.0 * 0.5 = 0.5, kappa = (0.5 - 0.5) / 0.5 = 0.
    # B is P P P P on those reviews too, so B and C come out the same.
    for pair in (pairs[1, 3], pairs[2, 3]):
        assert (pair.reviews, pair.agreed) == (4, 2)
        assert pair.kappa == pytest.approx(0.0)
    # Overall: 10 reviews with two labels or more; 10 + 4 + 4 = 18 pairs of labels, 7 + 2 + 2 = 11 alike,
    # 61.1 %; kappa is the mean of the pairwise kappas, (0.4 + 0 + 0) / 3 = 0.1333.
    assert (report.reviews, report.label_pairs, report.agreed_pairs) == (10, 18, 11)
    assert report.percent == pytest.approx(100 * 11 / 18)
    assert report.kappa == pytest.approx(0.4 / 3)


def test_kappa_is_undefined_when_both_analysts_only_ever_gave_one_label() -> None:
    assert cohens_kappa([P, P, P], [P, P, P]) is None
    assert agreement_report({1: {1: P, 2: P}}).kappa is None


def test_reviews_with_a_single_label_do_not_count() -> None:
    report = agreement_report({1: {1: P}, 2: {2: N}})

    assert (report.reviews, report.pairs, report.percent, report.kappa) == (0, [], None, None)


def test_accuracy_against_gold_counts_each_annotators_matches() -> None:
    rows = [(1, P, P), (1, N, P), (1, N, N), (2, P, P)]

    accuracy = {row.annotator: (row.labels, row.correct, row.accuracy) for row in gold_accuracy(rows)}

    assert accuracy == {1: (3, 2, pytest.approx(2 / 3)), 2: (1, 1, 1.0)}


@pytest.mark.parametrize(
    ("labels", "gold", "expected"),
    [
        ([P], None, (P, ResolutionMethod.UNANIMOUS)),
        ([N, N], None, (N, ResolutionMethod.UNANIMOUS)),
        ([P, N, P], None, (P, ResolutionMethod.MAJORITY)),
        ([P, N], None, None),
        ([P, P, N, N], None, None),
        ([P], P, (P, ResolutionMethod.GOLD)),
        ([P, N], N, (N, ResolutionMethod.GOLD)),
        ([N, N, P], N, (N, ResolutionMethod.GOLD)),
        ([P, P], N, None),
        ([P, P, N], N, None),
    ],
)
def test_resolution_rules(labels: list[int], gold: int | None, expected: tuple[int, str] | None) -> None:
    resolved = resolve_labels(labels, gold_label=gold)

    assert (None if resolved is None else (resolved.label, resolved.method)) == expected


def test_resolutions_say_why() -> None:
    assert resolve_labels([P, N, P], gold_label=None).reason == "2 of 3 annotators said positive (2 positive, 1 negative)."
    assert resolve_labels([N], gold_label=None).reason == "The only annotator said negative."
    assert resolve_labels([P, P], gold_label=P).reason == "Gold label from the dataset (2 positive)."
