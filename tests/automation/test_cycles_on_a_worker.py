"""Retraining cycles through a real Celery worker on PostgreSQL and Redis, as production runs them."""

from __future__ import annotations

from typing import Any

import pytest

from apps.automation.models import RetrainingCycle
from apps.automation.services import cycle_start
from apps.common.choices import TERMINAL_STATUSES, JobStatus
from apps.labelling.models import LabellingQueue
from apps.labelling.services import annotation_create, assignment_next, queue_create
from apps.registry.models import ModelVersion
from apps.registry.selectors import current_model_version
from apps.reviews.models import DatasetSnapshot
from apps.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.automation.conftest import current_model, make_reviews, policy_for, resolve
from tests.conftest import WorkerProcess, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def finished(cycle: RetrainingCycle, worker: WorkerProcess, *, timeout: float = 240) -> RetrainingCycle:
    def done() -> bool:
        cycle.refresh_from_db()
        return cycle.status in TERMINAL_STATUSES

    try:
        wait_until(done, timeout=timeout, interval=0.3, what=f"{cycle} to finish")
    except BaseException:
        print(worker.log()[-5000:])
        raise
    return cycle


def label(queue: LabellingQueue, user: Any, truth: dict[int, int]) -> None:
    assignment = assignment_next(queue=queue, user=user)
    assert assignment is not None, "the queue ran out of reviews"
    annotation_create(queue=queue, user=user, review_id=assignment.review_id, label=truth[assignment.review_id])


def test_labelling_enough_reviews_starts_one_cycle_that_promotes_the_better_model_and_reorders_the_queues(
    celery_worker_process: WorkerProcess, benchmark: DatasetSnapshot, analyst: Any
) -> None:
    old = current_model(flipped=True)
    policy_for(benchmark, min_new_labels=30)
    WebhookSubscription.objects.create(
        name="deploys", url="https://hooks.example.com/cycles", secret="s" * 32, events=["cycle.finished"]
    )
    truth = {review.pk: label for review, label in make_reviews(40, source="to-label", seed=31)}
    queue, _ = queue_create(name="new reviews", pool="unlabelled", annotators=[analyst])
    suggested, _ = queue_create(name="most uncertain", pool="unlabelled", strategy="uncertainty", annotators=[analyst])
    for _ in range(29):
        label(queue, analyst, truth)
    assert not RetrainingCycle.objects.exists(), "29 labels are one short of the policy's 30"

    label(queue, analyst, truth)
    cycle = RetrainingCycle.objects.get()
    assert (cycle.trigger, cycle.labels_added, cycle.baseline_version) == ("labels", 30, old)
    label(queue, analyst, truth)  # a label while the cycle is under way starts no second one
    assert RetrainingCycle.objects.count() == 1

    finished(cycle, celery_worker_process)

    assert cycle.status == JobStatus.SUCCEEDED, f"{cycle.error}\n{cycle.log_tail}"
    assert cycle.promoted, cycle.decision
    assert current_model_version() == cycle.candidate
    # The old human labels and the 30 new ones, and the 31st if it came before the worker took the snapshot.
    assert cycle.snapshot.size in (20 + 30, 20 + 31)
    assert cycle.training_run.status == JobStatus.SUCCEEDED
    assert cycle.benchmark_reviews == benchmark.test_count and cycle.benchmark_excluded == 0
    assert cycle.candidate_score > cycle.current_score + 0.05
    assert cycle.decision.startswith(f"Promoted version {cycle.candidate.pk}: accuracy {cycle.candidate_score:.4f}")
    assert cycle.promotion.to_version == cycle.candidate and cycle.promotion.from_version == old
    delivery = WebhookDelivery.objects.get(event="cycle.finished")
    assert delivery.payload["data"]["cycle"]["promoted"] is True
    assert delivery.payload["data"]["cycle"]["candidate"] == cycle.candidate.pk

    def reordered() -> bool:
        suggested.refresh_from_db()
        return suggested.ordered_with_id == cycle.candidate.pk

    assert cycle.batch_jobs, "the new model predicts the uncertainty queue's pool"
    wait_until(reordered, timeout=120, what="the uncertainty queue to be ordered by the new model")


def test_a_cycle_whose_candidate_is_worse_leaves_the_current_model_and_says_why(
    celery_worker_process: WorkerProcess, benchmark: DatasetSnapshot, ml_admin: Any
) -> None:
    good = current_model(flipped=False)
    policy = policy_for(benchmark)
    resolve(make_reviews(30, source="noisy", seed=41), flipped=True)

    cycle = cycle_start(policy=policy, trigger="manual", created_by=ml_admin)
    assert cycle is not None
    finished(cycle, celery_worker_process)

    assert cycle.status == JobStatus.SUCCEEDED, f"{cycle.error}\n{cycle.log_tail}"
    assert not cycle.promoted and cycle.promotion is None
    assert current_model_version() == good
    assert cycle.candidate is not None and cycle.candidate != good
    assert cycle.candidate_score < cycle.current_score
    assert cycle.decision == (
        f"Not promoted: version {cycle.candidate.pk} has accuracy {cycle.candidate_score:.4f} against "
        f"{cycle.current_score:.4f} for the current version {good.pk} on {benchmark.test_count} benchmark reviews "
        f"neither model trained on, {cycle.difference:+.4f}; the policy asks for at least 0.0500 better. "
        f"The current version {good.pk} stays."
    )
    assert not cycle.batch_jobs
    assert ModelVersion.objects.filter(is_current=True).get() == good
