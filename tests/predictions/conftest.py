"""Model versions to serve: a tiny random BERT and a TF-IDF model trained in seconds, registered as rows."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from apps.common.roles import ANALYST, role_group
from apps.predictions.serving import predictor
from apps.registry.models import ModelVersion
from apps.reviews.models import DatasetSnapshot
from workers.ml import SplitData, TrainConfig
from workers.ml.training import train
from workers.ml.data import Example

POSITIVE_WORDS = ["wonderful", "brilliant", "moving", "superb", "delightful", "masterful", "charming", "gripping"]
NEGATIVE_WORDS = ["dreadful", "boring", "clumsy", "awful", "tedious", "lifeless", "painful", "incoherent"]
FILLER = ["the plot", "the acting", "the score", "the ending", "every scene", "the cast", "the script", "the pacing"]

POSITIVE_REVIEW = "The acting was wonderful and the ending was superb. A brilliant, moving film."
NEGATIVE_REVIEW = "The plot was dreadful and the script was boring. An awful, tedious film."


def plain_reviews(count: int, seed: int = 7) -> list[Example]:
    rng = random.Random(seed)
    examples = []
    for index in range(count):
        label = index % 2
        words = POSITIVE_WORDS if label else NEGATIVE_WORDS
        text = " ".join(f"{rng.choice(FILLER)} was {rng.choice(words)}." for _ in range(4))
        examples.append(Example(review_id=index, text=text, label=label))
    return examples


def _split(examples: list[Example]) -> SplitData:
    return SplitData(train=examples[:40], validation=examples[40:50], test=examples[50:60])


@pytest.fixture(scope="session")
def tfidf_folder(artifact_root: Path) -> Path:
    folder = artifact_root / "predictions-tfidf"
    train(TrainConfig(kind="tfidf"), _split(plain_reviews(60)), folder)
    return folder


@pytest.fixture(scope="session")
def transformer_folder(artifact_root: Path, tiny_bert_dir: Path) -> Path:
    """The tiny BERT of tests/conftest.py, fine-tuned for a few steps."""
    folder = artifact_root / "predictions-tiny-bert"
    train(
        TrainConfig(kind="transformer", base_model=str(tiny_bert_dir), epochs=1, batch_size=8, max_length=32, learning_rate=1e-3),
        _split(plain_reviews(60)),
        folder,
    )
    return folder


MakeVersion = Callable[..., ModelVersion]


@pytest.fixture
def make_version(db: None, artifact_root: Path, tfidf_folder: Path) -> MakeVersion:
    """A model version row for an artifact folder (TF-IDF unless another folder is given)."""

    def make(
        folder: Path | None = None, *, current: bool = False, snapshot: DatasetSnapshot | None = None
    ) -> ModelVersion:
        folder = folder or tfidf_folder
        manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
        version = ModelVersion.objects.create(
            kind=manifest["kind"],
            base_model=manifest.get("base_model") or "",
            snapshot=snapshot,
            artifact_path=str(folder.relative_to(artifact_root)),
            manifest=manifest,
            test_accuracy=manifest["metrics"]["accuracy"],
        )
        if current:
            make_current(version)
        return version

    return make


def make_current(version: ModelVersion) -> None:
    """What a promotion leaves in the database: this version, and only this one, current."""
    ModelVersion.objects.filter(is_current=True).update(is_current=False)
    ModelVersion.objects.filter(pk=version.pk).update(is_current=True)


@pytest.fixture(autouse=True)
def _fresh_predictor() -> Iterator[None]:
    """Each test starts with nothing loaded, as a new web process would."""
    predictor.clear()
    yield
    predictor.clear()


@pytest.fixture
def analyst(db: None) -> User:
    user = User.objects.create_user("analyst", password="a long enough password")
    user.groups.add(role_group(ANALYST))
    return user


@pytest.fixture
def api_client(analyst: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(analyst)
    return client


@pytest.fixture(autouse=True)
def _static_files(static_files_as_in_development: None) -> None:
    """Static files served as in development (tests/conftest.py)."""
