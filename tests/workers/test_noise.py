"""workers.ml.noise: every review scored by models that did not see it, averaged over seeded k-fold splits."""

from __future__ import annotations

import random

import numpy as np
import pytest

from workers.ml.noise import NoiseInputError, NoiseSettings, detect_label_noise

GOOD = ["wonderful", "superb", "moving", "brilliant", "delightful", "masterpiece", "gripping", "charming"]
BAD = ["awful", "boring", "dreadful", "clumsy", "tedious", "waste", "terrible", "dull"]
PLAIN = ["film", "plot", "actor", "scene", "ending", "camera", "story", "cast"]


def reviews(count: int = 120, flips: int = 6) -> tuple[list[str], np.ndarray, set[int]]:
    rng = random.Random(11)
    truth = [index % 2 for index in range(count)]
    texts = [" ".join(rng.sample(GOOD if label else BAD, 4) + rng.sample(PLAIN, 4)) for label in truth]
    flipped = set(rng.sample(range(count), flips))
    given = np.array([1 - label if index in flipped else label for index, label in enumerate(truth)])
    return texts, given, flipped


def test_the_flipped_labels_are_flagged_and_have_the_lowest_label_quality() -> None:
    texts, given, flipped = reviews()
    findings = detect_label_noise(texts, given)

    assert set(np.flatnonzero(findings.issues).tolist()) >= flipped
    assert set(np.argsort(findings.quality)[: len(flipped)].tolist()) == flipped
    assert findings.estimated_issues >= len(flipped) - 1
    np.testing.assert_allclose(findings.probabilities.sum(axis=1), 1.0)


def test_the_repeats_average_one_seeded_split_each_and_progress_counts_every_fold_model() -> None:
    texts, given, _ = reviews()
    steps: list[tuple[int, int]] = []
    averaged = detect_label_noise(texts, given, settings=NoiseSettings(folds=4, repeats=3, seed=5), progress=lambda *step: steps.append(step))
    singles = [detect_label_noise(texts, given, settings=NoiseSettings(folds=4, repeats=1, seed=seed)).probabilities for seed in (5, 6, 7)]

    assert steps == [(done, 12) for done in range(1, 13)]
    np.testing.assert_allclose(averaged.probabilities, np.mean(singles, axis=0))
    # Different seeds put the reviews in different folds, so the splits do not all agree.
    assert not np.allclose(singles[0], singles[1])


@pytest.mark.parametrize("repeats", [0, 11, True, 2.5])
def test_repeats_outside_one_to_ten_are_refused_with_what_they_mean(repeats: object) -> None:
    texts, given, _ = reviews()
    with pytest.raises(NoiseInputError, match="seeded fold splits are averaged: a whole number from 1 to 10"):
        detect_label_noise(texts, given, settings=NoiseSettings(repeats=repeats))  # type: ignore[arg-type]


def test_a_stop_request_between_fold_models_interrupts_the_detection() -> None:
    texts, given, _ = reviews()
    steps: list[tuple[int, int]] = []
    with pytest.raises(InterruptedError, match="Stopped before every fold was scored"):
        detect_label_noise(texts, given, progress=lambda *step: steps.append(step), should_stop=lambda: len(steps) >= 7)
    assert steps[-1] == (7, 15)


def test_reviews_without_words_in_common_are_refused_with_what_to_check() -> None:
    with pytest.raises(NoiseInputError, match="No word appears in 2 or more of these 60 reviews"):
        detect_label_noise(["", "...", "   "] * 20, [0, 1, 0] * 20)
