"""Data for the labelling tests: analysts, reviews, queues and the current model's batch predictions."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from apps.common.roles import ANALYST, ML_ADMIN, role_group
from apps.labelling.models import LabellingQueue
from apps.labelling.services import queue_create
from apps.predictions.choices import PredictionSource
from apps.predictions.models import Prediction
from apps.registry.models import ModelVersion
from apps.reviews.models import Review

MakeReviews = Callable[..., list[Review]]
MakeQueue = Callable[..., LabellingQueue]
Predict = Callable[..., None]


def make_user(username: str, *roles: str) -> User:
    """A user in the role groups given; no password (tests sign in with force_login), so no slow hashing."""
    user = User.objects.create_user(username)
    for role in roles:
        user.groups.add(role_group(role))
    return user


@pytest.fixture
def alice(db: None) -> User:
    return make_user("alice", ANALYST)


@pytest.fixture
def bob(db: None) -> User:
    return make_user("bob", ANALYST)


@pytest.fixture
def carol(db: None) -> User:
    return make_user("carol", ANALYST)


@pytest.fixture
def admin(db: None) -> User:
    return make_user("admin", ML_ADMIN)


@pytest.fixture
def outsider(db: None) -> User:
    """Signed in, but neither an analyst nor an ML admin."""
    return make_user("outsider")


@pytest.fixture
def make_reviews(db: None) -> MakeReviews:
    """``make_reviews(5)``: unlabelled reviews; ``gold=[1, 0, ...]`` gives each its gold label."""
    numbers: Iterator[int] = itertools.count(1)

    def make(
        count: int = 0, *, gold: Sequence[int | None] | None = None, texts: Sequence[str] | None = None, **fields: Any
    ) -> list[Review]:
        labels = list(gold) if gold is not None else [None] * (len(texts) if texts else count)
        rows = []
        for index, label in enumerate(labels):
            number = next(numbers)
            text = texts[index] if texts else f"Review number {number}: the film was something else."
            rows.append(Review(text=text, source="test", external_id=str(number), gold_label=label, **fields))
        return Review.objects.bulk_create(rows)

    return make


@pytest.fixture
def make_queue(db: None, alice: User, bob: User) -> MakeQueue:
    """A queue (all reviews, random, overlap 1, worked by alice and bob unless told otherwise)."""

    def make(name: str = "queue", *, annotators: Iterable[User] | None = None, **fields: Any) -> LabellingQueue:
        fields.setdefault("pool", "all")
        chosen = list(annotators) if annotators is not None else [alice, bob]
        queue, _ = queue_create(name=name, annotators=chosen, **fields)
        return queue

    return make


@pytest.fixture
def current_version(db: None) -> ModelVersion:
    return ModelVersion.objects.create(kind="tfidf", artifact_path="test-model", is_current=True, test_accuracy=0.9)


@pytest.fixture
def predict(current_version: ModelVersion) -> Predict:
    """``predict({review: prob_positive, ...})``: batch predictions of the current model (or ``version``)."""

    def make(probabilities: dict[Review, float], *, version: ModelVersion | None = None) -> None:
        Prediction.objects.bulk_create(
            Prediction(
                text=review.text,
                review=review,
                model_version=version or current_version,
                label=int(probability >= 0.5),
                confidence=max(probability, 1 - probability),
                prob_negative=1 - probability,
                prob_positive=probability,
                source=PredictionSource.BATCH,
            )
            for review, probability in probabilities.items()
        )

    return make


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_as(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture(autouse=True)
def _static_files(static_files_as_in_development: None) -> None:
    """Static files served as in development (tests/conftest.py)."""
