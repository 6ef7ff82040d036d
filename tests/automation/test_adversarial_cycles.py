"""Attacks on retraining cycles: cancelled at each step, the cycle ends cancelled and the current model stays."""

from __future__ import annotations

from typing import Any

import pytest

from apps.automation import runners
from apps.automation.models import RetrainingCycle
from apps.automation.runners import CycleRunner
from apps.automation.services import cycle_cancel, cycle_start
from apps.common.choices import JobStatus
from apps.registry.selectors import current_model_version
from apps.reviews.models import DatasetSnapshot
from tests.automation.conftest import current_model, make_reviews, policy_for, resolve

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("step", "stage"),
    [("snapshot_create", "snapshot"), ("training_run_execute", "training"), ("evaluation_run_execute", "evaluating")],
)
def test_a_cycle_cancelled_during_each_step_ends_cancelled_and_promotes_nothing(
    benchmark: DatasetSnapshot, monkeypatch: pytest.MonkeyPatch, step: str, stage: str
) -> None:
    current = current_model(flipped=True)
    resolve(make_reviews(20, source="new", seed=9))
    cycle = cycle_start(policy=policy_for(benchmark, min_improvement=0.0), trigger="manual", enqueue=False)
    assert cycle is not None
    original = getattr(runners, step)
    seen: dict[str, Any] = {}

    def cancelled_meanwhile(*args: Any, **kwargs: Any) -> Any:
        # An ML admin presses Cancel while this step runs.
        row = RetrainingCycle.objects.get(pk=cycle.pk)
        seen.setdefault("stage", row.stage)
        if "cancelled" not in seen:
            seen["cancelled"] = cycle_cancel(cycle=row)
        return original(*args, **kwargs)

    monkeypatch.setattr(runners, step, cancelled_meanwhile)

    CycleRunner.handle(cycle.pk)

    cycle.refresh_from_db()
    assert seen["stage"] == stage
    assert cycle.status == JobStatus.CANCELLED, (cycle.status, cycle.error)
    assert cycle.outcome == "Cancelled; the current model stays."
    assert not cycle.promoted and current_model_version() == current


@pytest.mark.django_db(transaction=True)
def test_a_promotion_made_while_a_cycle_promotes_waits_for_it_instead_of_being_replaced_unseen(
    benchmark: DatasetSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import connection

    from apps.registry.models import ModelVersion
    from apps.registry.services import model_version_promote
    from apps.reviews.snapshots import snapshot_create
    from apps.training.runners import training_run_execute
    from apps.training.services import training_run_create

    baseline = current_model(flipped=True)
    resolve(make_reviews(20, source="new", seed=9))
    cycle = cycle_start(policy=policy_for(benchmark, min_improvement=0.0), trigger="manual", enqueue=False)
    assert cycle is not None
    rival_run = training_run_execute(
        run_id=training_run_create(snapshot=snapshot_create(name="rival", label_source="human"), kind="tfidf", enqueue=False).pk
    )
    rival = ModelVersion.objects.get(training_run=rival_run)
    original = runners.model_version_promote

    def rival_promoted_by_hand() -> None:
        # Another policy's cycle, or an ML admin, promoting at the same moment as this cycle.
        try:
            model_version_promote(version=rival, by=None, reason="promoted by hand meanwhile", force=True)
        finally:
            connection.close()

    import threading

    other = threading.Thread(target=rival_promoted_by_hand)

    def promote_while_another_promotes(**kwargs: Any) -> Any:
        other.start()
        other.join(timeout=3)  # without the lock the rival is current by now; with it, it waits for this cycle
        return original(**kwargs)

    monkeypatch.setattr(runners, "model_version_promote", promote_while_another_promotes)

    CycleRunner.handle(cycle.pk)
    other.join(timeout=30)

    cycle.refresh_from_db()
    assert cycle.status == JobStatus.SUCCEEDED, cycle.error
    assert cycle.promoted and cycle.promotion is not None
    # The cycle replaced the version it was compared with, not the rival it never saw.
    assert cycle.promotion.from_version == baseline
    assert current_model_version() == rival  # the hand promotion came after, and was not lost
