"""Retraining cycles: the cycle itself, the schedule's tick of a policy, and the minutely check of label triggers.

Thin: ``run_cycle`` hands the cycle to its kind of job (``apps.automation.runners.CycleRunner``), which
claims the row under a lock; the two beat tasks call one service each, and a second cycle of a policy
is refused by the database, so a duplicate tick starts nothing.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task

from apps.automation.choices import CycleTrigger
from apps.automation.models import TrainingPolicy
from apps.automation.runners import CycleRunner
from apps.automation.services import CycleRefused, cycle_start, policies_check_label_triggers

logger = logging.getLogger(__name__)


@shared_task(name="automation.run_cycle", bind=True, acks_late=True, ignore_result=True)
def run_cycle(self: Task, job_id: int) -> None:
    # Its training run and evaluations each go to a process of their own, as their own tasks would.
    CycleRunner.handle(job_id, worker=self.request.hostname, steps_in_child=True)


@shared_task(name="automation.run_scheduled_cycle", ignore_result=True)
def run_scheduled_cycle(policy_id: int) -> None:
    """Celery beat's tick of a policy's schedule (a django-celery-beat periodic task)."""
    policy = TrainingPolicy.objects.filter(pk=policy_id).first()
    if policy is None:
        logger.warning("Training policy %s no longer exists; its schedule starts nothing.", policy_id)
        return
    try:
        cycle = cycle_start(policy=policy, trigger=CycleTrigger.SCHEDULE)
    except CycleRefused as error:
        logger.info("%s", error)
        return
    if cycle is None:
        logger.info("Policy %r has a cycle under way; its schedule's tick starts no other.", policy.name)


@shared_task(name="automation.check_label_triggers", ignore_result=True)
def check_label_triggers() -> None:
    policies_check_label_triggers()
