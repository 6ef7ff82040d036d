"""Rows the dashboard shows, made directly: finished and running training runs with epochs and test predictions.

Runs made here never touch a worker; their numbers are whatever the test says. The browser tests use
them too (``tests.browser``), except where a real worker must run.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.utils import timezone

from apps.registry.models import ModelVersion
from apps.reviews.models import DatasetSnapshot, Review
from apps.reviews.snapshots import snapshot_create
from apps.training.models import EpochMetric, RunPrediction, TrainingRun

POSITIVE = ["wonderful", "brilliant", "moving", "superb", "delightful", "charming"]
NEGATIVE = ["dreadful", "boring", "clumsy", "awful", "tedious", "lifeless"]
SUBJECTS = ["the plot", "the acting", "the score", "the ending", "the cast", "the script"]


def make_labelled_reviews(count: int, *, seed: int = 11, source: str = "dash", **fields: Any) -> list[Review]:
    """``count`` reviews, alternately negative and positive, each saying so in plain words."""
    rng = random.Random(seed)
    reviews = []
    for n in range(count):
        label = n % 2
        words = POSITIVE if label else NEGATIVE
        text = " ".join(f"{rng.choice(SUBJECTS)} was {rng.choice(words)}." for _ in range(3))
        reviews.append(Review(text=text, source=source, external_id=f"{seed}-{n}", gold_label=label, **fields))
    return Review.objects.bulk_create(reviews)


def make_snapshot(count: int = 40, *, seed: int = 11, name: str = "dashboard snapshot") -> DatasetSnapshot:
    """A snapshot over ``count`` fresh labelled reviews, split 60/20/20."""
    make_labelled_reviews(count, seed=seed)
    return snapshot_create(name=name, train_fraction=0.6, validation_fraction=0.2, test_fraction=0.2)


def make_run(
    snapshot: DatasetSnapshot,
    *,
    status: str = "succeeded",
    losses: list[tuple[float, float]] = ((0.6, 0.55), (0.4, 0.45)),  # type: ignore[assignment]
    flip: set[int] | None = None,
    seed: int = 0,
    version: bool = True,
    **fields: Any,
) -> TrainingRun:
    """A training run on ``snapshot`` with one epoch row per (train, validation) loss pair.

    A succeeded run predicts every test review of the snapshot: right, except the reviews whose ids are
    in ``flip``, which it gets wrong. Its confusion matrix and metrics follow from those predictions, and
    it gets a model version unless ``version`` is False. A running run is halfway through its steps.
    """
    now = timezone.now()
    run = TrainingRun.objects.create(
        snapshot=snapshot,
        status=status,
        started_at=None if status == "queued" else now - timedelta(minutes=3),
        finished_at=now if status in ("succeeded", "failed", "cancelled") else None,
        total_steps=100,
        current_step=100 if status == "succeeded" else (50 if status == "running" else 0),
        **fields,
    )
    for epoch, (train_loss, validation_loss) in enumerate(losses, start=1):
        EpochMetric.objects.create(
            run=run, epoch=epoch, step=epoch * 50, train_loss=train_loss, validation_loss=validation_loss,
            validation_accuracy=1 - validation_loss / 2, validation_f1=1 - validation_loss / 2,
        )  # fmt: skip
    if status != "succeeded":
        return run
    flip = flip or set()
    rng = random.Random(seed)
    test = list(snapshot.items.filter(split="test").order_by("review_id").values_list("review_id", "label"))
    predictions = [
        RunPrediction(
            training_run=run,
            review_id=review_id,
            gold_label=label,
            predicted_label=1 - label if review_id in flip else label,
            confidence=round(rng.uniform(0.55, 0.99), 3),
        )
        for review_id, label in test
    ]
    RunPrediction.objects.bulk_create(predictions)
    matrix = [[0, 0], [0, 0]]
    for prediction in predictions:
        matrix[prediction.gold_label][prediction.predicted_label] += 1
    [[tn, fp], [fn, tp]] = matrix
    run.confusion_matrix = matrix
    run.accuracy = (tn + tp) / len(predictions)
    run.precision = tp / (tp + fp) if tp + fp else 0.0
    run.recall = tp / (tp + fn) if tp + fn else 0.0
    run.f1 = 2 * run.precision * run.recall / (run.precision + run.recall) if run.precision + run.recall else 0.0
    run.f1_macro = run.f1
    run.metrics = {"accuracy": run.accuracy, "f1": run.f1, "support": len(predictions), "confusion_matrix": matrix}
    run.save()
    if version:
        ModelVersion.objects.create(
            training_run=run, kind=run.kind, base_model=run.base_model, snapshot=snapshot,
            artifact_path=f"missing-{run.pk}", test_accuracy=run.accuracy, test_f1=run.f1,
        )  # fmt: skip
    return run


def snapshot_test_review_ids(snapshot: DatasetSnapshot) -> list[int]:
    return list(snapshot.items.filter(split="test").order_by("review_id").values_list("review_id", flat=True))
