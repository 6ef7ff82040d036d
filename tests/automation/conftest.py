"""Data for retraining tests: clearly worded reviews, human resolutions, a benchmark and a current model."""

from __future__ import annotations

import random
from typing import Any

import pytest

from apps.automation.models import TrainingPolicy
from apps.automation.services import policy_create
from apps.common.choices import JobStatus
from apps.common.roles import ANALYST, INTEGRATION, ML_ADMIN
from apps.labelling.choices import ResolutionMethod
from apps.labelling.models import Resolution
from apps.registry.models import ModelVersion
from apps.registry.services import model_version_promote
from apps.reviews.models import DatasetSnapshot, Review
from apps.reviews.snapshots import snapshot_create
from apps.training.runners import training_run_execute
from apps.training.services import training_run_create
from tests.registry.factories import UserFactory

POSITIVE = ["wonderful", "brilliant", "moving", "superb", "delightful", "masterful", "charming", "gripping"]
NEGATIVE = ["dreadful", "boring", "clumsy", "awful", "tedious", "lifeless", "painful", "incoherent"]
SUBJECTS = ["the plot", "the acting", "the score", "the ending", "every scene", "the cast", "the script", "the pacing"]


def make_reviews(count: int, *, source: str, gold: bool = False, seed: int = 5) -> list[tuple[Review, int]]:
    """``count`` reviews, half positive, each saying so plainly; with ``gold`` they carry their label. (review, label)."""
    rng = random.Random(seed)
    made = []
    for index in range(count):
        label = index % 2
        words = POSITIVE if label else NEGATIVE
        text = " ".join(f"{rng.choice(SUBJECTS)} was {rng.choice(words)}." for _ in range(4))
        review = Review.objects.create(
            text=text, source=source, external_id=str(index), gold_label=label if gold else None
        )
        made.append((review, label))
    return made


def resolve(reviews: list[tuple[Review, int]], *, flipped: bool = False) -> None:
    """Give reviews a human resolution: their true label, or the opposite one (label noise)."""
    Resolution.objects.bulk_create(
        Resolution(review=review, label=1 - label if flipped else label, method=ResolutionMethod.MAJORITY)
        for review, label in reviews
    )


@pytest.fixture
def benchmark(db: None) -> DatasetSnapshot:
    """40 gold-labelled reviews that no human labels, half of them the test split both models are scored on."""
    make_reviews(40, source="benchmark", gold=True, seed=11)
    return snapshot_create(name="benchmark", train_fraction=0.4, validation_fraction=0.1, test_fraction=0.5)


def current_model(*, flipped: bool, count: int = 20) -> ModelVersion:
    """A TF-IDF version trained here on ``count`` human-labelled reviews (their labels flipped or not), made current."""
    resolve(make_reviews(count, source=f"current-{flipped}", seed=21), flipped=flipped)
    snapshot = snapshot_create(name="current model's data", label_source="human")
    run = training_run_create(snapshot=snapshot, kind="tfidf", enqueue=False)
    run = training_run_execute(run_id=run.pk)
    assert run is not None and run.status == JobStatus.SUCCEEDED, run.error if run else "not queued"
    version = ModelVersion.objects.get(training_run=run)
    model_version_promote(version=version, by=None, reason="the model before the loop")
    version.refresh_from_db()
    return version


def policy_for(benchmark: DatasetSnapshot, **fields: Any) -> TrainingPolicy:
    values: dict[str, Any] = {
        "name": "nightly tf-idf",
        "kind": "tfidf",
        "label_source": "human",
        "benchmark_snapshot": benchmark,
        "benchmark_split": "test",
        "metric": "accuracy",
        "min_improvement": 0.05,
        **fields,
    }
    return policy_create(**values)


@pytest.fixture
def ml_admin(db: None) -> Any:
    return UserFactory(username="mladmin", roles=[ML_ADMIN])


@pytest.fixture
def analyst(db: None) -> Any:
    return UserFactory(username="analyst", roles=[ANALYST])


@pytest.fixture
def integration(db: None) -> Any:
    return UserFactory(username="integration", roles=[INTEGRATION])
