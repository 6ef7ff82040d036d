"""What starts a cycle: enough new labels, the schedule, a hand; and that two at once start one."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django_celery_beat.models import PeriodicTask

from apps.automation.models import RetrainingCycle
from apps.automation.runners import CycleRunner
from apps.automation.selectors import new_label_count
from apps.automation.services import (
    CycleRefused,
    cycle_start,
    policies_check_label_triggers,
    policy_update,
)
from apps.common.choices import JobStatus
from apps.labelling.resolutions import resolution_settle
from apps.registry.selectors import current_model_version
from apps.reviews.models import DatasetSnapshot
from tests.automation.conftest import current_model, make_reviews, policy_for, resolve


@pytest.mark.django_db(transaction=True)
def test_two_triggers_at_the_same_moment_start_one_cycle(benchmark: DatasetSnapshot) -> None:
    policy = policy_for(benchmark, min_new_labels=5, schedule="0 3 * * *")
    resolve(make_reviews(5, source="labelled", seed=3))
    barrier = threading.Barrier(2)
    started: dict[str, Any] = {}

    def trigger(kind: str) -> None:
        try:
            barrier.wait(timeout=10)
            started[kind] = cycle_start(policy=policy, trigger=kind, enqueue=False)
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger, args=(kind,)) for kind in ("labels", "schedule")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(cycle is None for cycle in started.values()) == [False, True], started
    cycle = RetrainingCycle.objects.get()
    assert cycle.status == JobStatus.QUEUED and cycle.labels_added == 5
    assert next(value for value in started.values() if value is not None) == cycle


@pytest.mark.django_db
def test_the_database_refuses_a_second_active_cycle_of_a_policy(benchmark: DatasetSnapshot) -> None:
    policy = policy_for(benchmark)
    RetrainingCycle.objects.create(policy=policy, trigger="manual")
    with pytest.raises(IntegrityError), transaction.atomic():
        RetrainingCycle.objects.create(policy=policy, trigger="schedule", status=JobStatus.RUNNING)
    RetrainingCycle.objects.create(policy=policy, trigger="manual", status=JobStatus.SUCCEEDED)
    assert cycle_start(policy=policy, trigger="manual", enqueue=False) is None


@pytest.mark.django_db(transaction=True)
def test_resolutions_start_a_cycle_once_the_count_since_the_current_models_snapshot_is_reached(
    benchmark: DatasetSnapshot, ml_admin: Any
) -> None:
    current_model(flipped=False)
    policy = policy_for(benchmark, min_new_labels=3)
    reviews = make_reviews(3, source="to-settle", seed=8)
    assert new_label_count(policy) == 0, "the labels the current model was trained on do not count"

    for review, label in reviews[:2]:
        resolution_settle(review=review, label=label, reason="read it", by=ml_admin)
    assert not RetrainingCycle.objects.exists()
    review, label = reviews[2]
    resolution_settle(review=review, label=label, reason="read it", by=ml_admin)

    cycle = RetrainingCycle.objects.get()
    assert (cycle.trigger, cycle.labels_added, cycle.created_by) == ("labels", 3, None)
    assert cycle.dispatched_at is not None, "the cycle was sent to a worker"
    assert new_label_count(policy) == 0, "labels count again from the start of the last cycle"


@pytest.mark.django_db
def test_the_minutely_check_starts_cycles_only_for_active_policies_that_reached_their_count(
    benchmark: DatasetSnapshot,
) -> None:
    ready = policy_for(benchmark, name="ready", min_new_labels=2)
    policy_for(benchmark, name="waiting", min_new_labels=10)
    paused = policy_for(benchmark, name="paused", min_new_labels=2, is_active=False)
    resolve(make_reviews(4, source="labelled", seed=3))

    started = policies_check_label_triggers()

    assert [cycle.policy for cycle in started] == [ready]
    assert policies_check_label_triggers() == [], "the policy has its cycle under way"
    with pytest.raises(CycleRefused, match="'paused' is inactive"):
        cycle_start(policy=paused, trigger="schedule", enqueue=False)


@pytest.mark.django_db
def test_a_schedule_is_a_celery_beat_periodic_task_that_follows_the_policy(benchmark: DatasetSnapshot) -> None:
    policy = policy_for(benchmark, schedule="30 2 * * 1-5")
    task = PeriodicTask.objects.get(pk=policy.periodic_task_id)
    assert (task.task, task.args, task.enabled) == ("automation.run_scheduled_cycle", f"[{policy.pk}]", True)
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("30", "2", "1-5")

    policy_update(policy=policy, is_active=False, schedule="0 4 * * *")
    task.refresh_from_db()
    assert (task.enabled, task.crontab.hour) == (False, "4")

    policy_update(policy=policy, schedule="")
    assert policy.periodic_task is None and not PeriodicTask.objects.filter(pk=task.pk).exists()


@pytest.mark.django_db
def test_the_scheduled_task_starts_a_cycle_and_a_second_tick_while_it_runs_starts_none(
    benchmark: DatasetSnapshot,
) -> None:
    from workers.tasks.automation import run_scheduled_cycle

    policy = policy_for(benchmark, schedule="0 3 * * *")
    run_scheduled_cycle(policy.pk)
    run_scheduled_cycle(policy.pk)
    cycle = RetrainingCycle.objects.get()
    assert (cycle.policy, cycle.trigger, cycle.status) == (policy, "schedule", JobStatus.QUEUED)


@pytest.mark.django_db
def test_a_cycle_whose_training_cannot_start_fails_says_why_and_promotes_nothing(benchmark: DatasetSnapshot) -> None:
    current = current_model(flipped=False)
    policy = policy_for(benchmark, hyperparameters={"subset_size": 5000})
    resolve(make_reviews(20, source="new", seed=9))
    cycle = cycle_start(policy=policy, trigger="manual", enqueue=False)
    assert cycle is not None

    CycleRunner.handle(cycle.pk)

    cycle.refresh_from_db()
    assert cycle.status == JobStatus.FAILED
    assert cycle.snapshot is not None and cycle.training_run is None and not cycle.promoted
    assert cycle.error == (
        "The training run could not be created: subset_size: Subset size 5000 is larger than the "
        f"{cycle.snapshot.train_count} training reviews of the snapshot; leave it empty to train on all of them."
    )
    assert cycle.outcome == f"Failed: {cycle.error} The current model stays."
    assert current_model_version() == current


@pytest.mark.django_db
def test_a_cycle_deciding_on_promotion_can_no_longer_be_cancelled(benchmark: DatasetSnapshot) -> None:
    from apps.automation.services import cycle_cancel
    from apps.common.models import IllegalTransition

    cycle = cycle_start(policy=policy_for(benchmark), trigger="manual", enqueue=False)
    assert cycle is not None
    RetrainingCycle.objects.filter(pk=cycle.pk).update(status=JobStatus.RUNNING, stage="deciding")

    with pytest.raises(IllegalTransition, match=f"Cycle {cycle.pk} is deciding on promotion"):
        cycle_cancel(cycle=cycle)
    cycle.refresh_from_db()
    assert (cycle.status, cycle.cancel_requested) == (JobStatus.RUNNING, False)
