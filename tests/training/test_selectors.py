"""Reads behind the run pages: the list, one run in detail, the reviews in a confusion-matrix cell."""

from __future__ import annotations

import pytest

from apps.registry.models import ModelVersion
from apps.reviews.models import DatasetSnapshot
from apps.training.models import EvaluationRun, RunPrediction
from apps.training.selectors import (
    run_cell_predictions,
    training_run_detail,
    training_run_list,
)
from apps.training.services import training_run_create

pytestmark = pytest.mark.django_db


def test_the_run_list_is_newest_first_and_filters_by_status_and_kind(snapshot: DatasetSnapshot) -> None:
    first = training_run_create(snapshot=snapshot, kind="tfidf", enqueue=False)
    second = training_run_create(snapshot=snapshot, enqueue=False)
    second.mark_running()

    assert list(training_run_list()) == [second, first]
    assert list(training_run_list(status="running")) == [second]
    assert list(training_run_list(kind="tfidf")) == [first]


def test_a_runs_detail_holds_its_epochs_in_order_its_model_version_and_its_evaluations(
    snapshot: DatasetSnapshot,
) -> None:
    run = training_run_create(snapshot=snapshot, enqueue=False)
    run.epoch_metrics.create(epoch=2, validation_f1=0.8)
    run.epoch_metrics.create(epoch=1, validation_f1=0.7)
    version = ModelVersion.objects.create(training_run=run, kind="transformer", snapshot=snapshot, artifact_path="x")
    evaluation = EvaluationRun.objects.create(model_version=version, snapshot=snapshot, split="validation")

    detail = training_run_detail(run_id=run.pk)

    assert [metric.epoch for metric in detail.epochs] == [1, 2]
    assert detail.model_version == version
    assert detail.evaluations == [evaluation]


def test_a_confusion_matrix_cell_lists_its_reviews_most_confident_first(snapshot: DatasetSnapshot) -> None:
    run = training_run_create(snapshot=snapshot, enqueue=False)
    reviews = [item.review for item in snapshot.items.filter(split="test", label=0).select_related("review")[:3]]
    for review, confidence in zip(reviews, [0.6, 0.9, 0.7]):
        RunPrediction.objects.create(
            training_run=run, review=review, gold_label=0, predicted_label=1, confidence=confidence
        )
    RunPrediction.objects.create(training_run=run, review=reviews[0], gold_label=0, predicted_label=0, confidence=0.99)

    false_positives = run_cell_predictions(training_run=run, gold_label=0, predicted_label=1)

    assert [prediction.confidence for prediction in false_positives] == [0.9, 0.7, 0.6]
    assert false_positives[0].review == reviews[1]
