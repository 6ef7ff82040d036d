"""AUTO_PROMOTE: a finished training run's version becomes current when it beats the current one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.registry.models import ModelVersion, Promotion
from apps.registry.services import model_version_auto_promote, model_version_promote
from apps.reviews.models import DatasetSnapshot
from apps.reviews.snapshots import snapshot_create
from apps.training.models import TrainingRun
from apps.training.services import training_run_create
from apps.training.runners import training_run_execute
from tests.registry.factories import SnapshotFactory, tamper
from tests.training.conftest import make_reviews

MakeVersion = Callable[..., ModelVersion]


def train_tfidf(snapshot: DatasetSnapshot) -> ModelVersion:
    run = training_run_create(snapshot=snapshot, kind="tfidf", enqueue=False)
    training_run_execute(run_id=run.pk, worker="here")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return ModelVersion.objects.get(training_run=run)


# The heartbeat thread has a connection of its own, so runs in this process commit like a worker's.
@pytest.mark.django_db(transaction=True)
def test_with_auto_promote_on_a_trained_version_becomes_current_only_when_it_beats_the_current_one(
    settings: Any,
) -> None:
    settings.AUTO_PROMOTE = True
    make_reviews(60)
    snapshot = snapshot_create(name="sixty", train_fraction=0.66, validation_fraction=0.17, test_fraction=0.17)

    first = train_tfidf(snapshot)
    first.refresh_from_db()
    assert first.is_current
    assert Promotion.objects.get().reason == "auto-promoted: no version was current."
    assert "Registered model version" in TrainingRun.objects.get(pk=first.training_run_id).log_tail

    # The same data trains the same model: not better, so it stays where it is.
    second = train_tfidf(snapshot)
    assert not ModelVersion.objects.get(pk=second.pk).is_current

    ModelVersion.objects.filter(pk=first.pk).update(test_accuracy=0.25)
    third = train_tfidf(snapshot)
    third.refresh_from_db()
    assert third.is_current
    promotion = Promotion.objects.latest("created_at")
    assert (promotion.from_version_id, promotion.to_version_id, promotion.promoted_by) == (first.pk, third.pk, None)
    assert promotion.reason == (
        f"auto-promoted: test accuracy {third.test_accuracy:.4f} beats the current version {first.pk}'s 0.2500 "
        f"on snapshot {snapshot.pk}."
    )


@pytest.mark.django_db(transaction=True)
def test_with_auto_promote_off_a_trained_version_is_registered_but_not_made_current(settings: Any) -> None:
    settings.AUTO_PROMOTE = False
    make_reviews(60)
    snapshot = snapshot_create(name="sixty", train_fraction=0.66, validation_fraction=0.17, test_fraction=0.17)

    version = train_tfidf(snapshot)

    assert not ModelVersion.objects.get(pk=version.pk).is_current
    assert not Promotion.objects.exists()


@pytest.mark.django_db
def test_auto_promote_does_nothing_while_the_setting_is_off(version_of: MakeVersion, settings: Any) -> None:
    settings.AUTO_PROMOTE = False

    assert model_version_auto_promote(version=version_of()) is None
    assert not ModelVersion.objects.filter(is_current=True).exists()


@pytest.mark.django_db
def test_auto_promote_leaves_versions_from_another_snapshot_for_a_person_to_compare(
    version_of: MakeVersion, snapshot: DatasetSnapshot, settings: Any
) -> None:
    settings.AUTO_PROMOTE = True
    current = version_of(accuracy=0.5, snapshot=snapshot)
    model_version_promote(version=current, by=None)

    promoted = model_version_auto_promote(version=version_of(accuracy=0.99, snapshot=SnapshotFactory()))

    assert promoted is None
    assert ModelVersion.objects.get(is_current=True) == current


@pytest.mark.django_db
def test_auto_promote_logs_a_refusal_instead_of_raising(
    version_of: MakeVersion, snapshot: DatasetSnapshot, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.AUTO_PROMOTE = True
    broken = version_of(accuracy=0.9, snapshot=snapshot)
    tamper(broken)

    assert model_version_auto_promote(version=broken) is None

    assert f"Model version {broken.pk} was not auto-promoted" in caplog.text
    assert not ModelVersion.objects.filter(is_current=True).exists()
