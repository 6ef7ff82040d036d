"""Reviews and resolved human labels for the snapshot tests, made with bulk inserts."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence

import pytest

from apps.labelling.choices import ResolutionMethod
from apps.labelling.models import Resolution
from apps.reviews.models import Review

MakeReviews = Callable[..., list[Review]]
Resolve = Callable[[Sequence[Review], int], None]


@pytest.fixture
def make_reviews(db: None) -> MakeReviews:
    """``make_reviews(positive=3, negative=2, unlabelled=1)``: reviews with labels mixed in id order."""
    numbers: Iterator[int] = itertools.count(1)

    def make(*, positive: int = 0, negative: int = 0, unlabelled: int = 0, source: str = "test") -> list[Review]:
        labels: list[int | None] = [1] * positive + [0] * negative + [None] * unlabelled
        random.Random(len(labels)).shuffle(labels)
        reviews = []
        for label in labels:
            number = next(numbers)
            reviews.append(
                Review(text=f"Review number {number}.", source=source, external_id=str(number), gold_label=label)
            )
        return Review.objects.bulk_create(reviews)

    return make


@pytest.fixture
def resolve(db: None) -> Resolve:
    """``resolve(reviews, label)``: give each review a resolved human label."""

    def resolve_reviews(reviews: Sequence[Review], label: int) -> None:
        Resolution.objects.bulk_create(
            [Resolution(review=review, label=label, method=ResolutionMethod.MAJORITY) for review in reviews]
        )

    return resolve_reviews
