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
