"""Data for registry, API-token and batch-prediction tests: users with roles, snapshots, model versions.

Model versions get real artifact folders (a TF-IDF model trained once per session on a few clearly
worded reviews, or a tiny random BERT), copied under ARTIFACT_ROOT, so checksums, loading and
predicting are the real thing; their metrics are set by the test.
"""

from __future__ import annotations

import random
import shutil
import uuid
from pathlib import Path
from typing import Any

import factory
from django.conf import settings
from django.contrib.auth import get_user_model

from apps.common.roles import role_group
from apps.registry.models import ModelVersion
from apps.reviews.models import DatasetSnapshot, Review
from workers.ml import Example, SplitData, TrainConfig
from workers.ml.training import train

POSITIVE = ["wonderful", "brilliant", "moving", "superb", "delightful", "charming"]
NEGATIVE = ["dreadful", "boring", "clumsy", "awful", "tedious", "lifeless"]
SUBJECTS = ["the plot", "the acting", "the score", "the ending", "the cast", "the script"]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("a-long-test-password")

    @factory.post_generation
    def roles(self, create: bool, extracted: Any, **_: Any) -> None:
        for role in extracted or ():
            self.groups.add(role_group(role))


class SnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DatasetSnapshot

    name = factory.Sequence(lambda n: f"snapshot {n}")
    content_hash = factory.LazyFunction(lambda: uuid.uuid4().hex * 2)


def review_text(label: int, rng: random.Random) -> str:
    words = POSITIVE if label else NEGATIVE
    return " ".join(f"{rng.choice(SUBJECTS)} was {rng.choice(words)}." for _ in range(3))


def examples(count: int, *, seed: int) -> list[Example]:
    rng = random.Random(seed)
    return [Example(review_id=seed * 1000 + n, text=review_text(n % 2, rng), label=n % 2) for n in range(count)]


def make_reviews(count: int, *, labelled: bool, seed: int = 3, source: str = "test", **fields: Any) -> list[Review]:
    rng = random.Random(seed)
    return Review.objects.bulk_create(
        Review(
            text=review_text(n % 2, rng),
            source=source,
            external_id=f"{seed}-{n}",
            gold_label=(n % 2) if labelled else None,
            **fields,
        )
        for n in range(count)
    )


def train_tfidf_artifact(folder: Path) -> Path:
    """A real TF-IDF artifact folder (seconds to train), in plain Python."""
    data = SplitData(train=examples(80, seed=1), validation=examples(20, seed=2), test=examples(20, seed=3))
    return train(TrainConfig(kind="tfidf"), data, folder / "tfidf").artifact_dir


def train_tiny_transformer_artifact(folder: Path, base_model: Path) -> Path:
    """A real transformer artifact folder from the tiny random BERT (one short epoch)."""
    data = SplitData(train=examples(16, seed=1), validation=examples(8, seed=2), test=examples(8, seed=3))
    config = TrainConfig(kind="transformer", base_model=str(base_model), epochs=1, batch_size=8, max_length=32)
    return train(config, data, folder / "transformer").artifact_dir


def make_version(
    artifact: Path,
    *,
    accuracy: float | None = 0.9,
    snapshot: DatasetSnapshot | None = None,
    kind: str = "tfidf",
    **fields: Any,
) -> ModelVersion:
    """A model version with its own copy of ``artifact`` under ARTIFACT_ROOT."""
    name = f"v-{uuid.uuid4().hex[:12]}"
    shutil.copytree(artifact, Path(settings.ARTIFACT_ROOT) / name)
    return ModelVersion.objects.create(
        kind=kind,
        snapshot=snapshot,
        artifact_path=name,
        artifact_size=sum(path.stat().st_size for path in artifact.rglob("*") if path.is_file()),
        test_accuracy=accuracy,
        test_f1=accuracy,
        **fields,
    )


def tamper(version: ModelVersion, name: str = "weights.safetensors") -> None:
    """Change one byte of an artifact file, as a disk error or a careless edit would."""
    path = Path(settings.ARTIFACT_ROOT) / version.artifact_path / name
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
