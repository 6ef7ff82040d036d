"""Data for training tests: a small snapshot of clearly worded reviews and a tiny random BERT on disk."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

from apps.reviews.models import DatasetSnapshot, Review
from apps.reviews.snapshots import snapshot_create

POSITIVE_WORDS = ["wonderful", "brilliant", "moving", "superb", "delightful", "masterful", "charming", "gripping"]
NEGATIVE_WORDS = ["dreadful", "boring", "clumsy", "awful", "tedious", "lifeless", "painful", "incoherent"]
FILLER = ["the plot", "the acting", "the score", "the ending", "every scene", "the cast", "the script", "the pacing"]


def make_reviews(count: int, *, seed: int = 7, source: str = "test") -> list[Review]:
    """``count`` reviews, half positive and half negative, each saying so in plain words."""
    rng = random.Random(seed)
    reviews = []
    for index in range(count):
        label = index % 2
        words = POSITIVE_WORDS if label else NEGATIVE_WORDS
        text = " ".join(f"{rng.choice(FILLER)} was {rng.choice(words)}." for _ in range(4))
        reviews.append(Review(text=text, source=source, external_id=str(index), gold_label=label))
    return Review.objects.bulk_create(reviews)


@pytest.fixture
def snapshot(db: None) -> DatasetSnapshot:
    """60 labelled reviews split 40 / 10 / 10."""
    make_reviews(60)
    return snapshot_create(name="sixty reviews", train_fraction=0.66, validation_fraction=0.17, test_fraction=0.17)


def tiny_transformer_settings(tiny_bert_dir: Path, **overrides: Any) -> dict[str, Any]:
    """Hyperparameters for a training run of the tiny BERT that takes seconds on two CPU cores."""
    return {
        "kind": "transformer",
        "base_model": str(tiny_bert_dir),
        "epochs": 2,
        "batch_size": 8,
        "max_length": 32,
        "learning_rate": 1e-3,
        **overrides,
    }


def worker_database_url() -> str:
    """The tests' database as a URL for a worker subprocess; skips the test off PostgreSQL and Redis."""
    db = connections["default"].settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql" or not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("the worker tests run on PostgreSQL and Redis: use `make test`")
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def admin_client(admin_client: Any, settings: Any, tmp_path: Path) -> Any:
    """The admin's client, with static files served as in development (no collectstatic manifest in tests)."""
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    return admin_client
