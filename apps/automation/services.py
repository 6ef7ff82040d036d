"""Retraining policies and their cycles: set a policy, start a cycle (by labels, schedule or hand), cancel one.

Its kind of job is ``apps.automation.jobs.CycleJob``; what a cycle does on a worker is in
``apps.automation.runners``. A policy holds at most one active cycle: starting one locks the policy's row
and the database refuses a second queued or running cycle (a partial unique constraint), so two triggers
at the same moment start one cycle.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, cast

from celery.schedules import ParseException, crontab
from django.conf import settings
from django.db import IntegrityError, transaction

from apps.automation.choices import ComparisonMetric, CycleStage, CycleTrigger
from apps.automation.jobs import CycleJob
from apps.automation.models import RetrainingCycle, TrainingPolicy
from apps.automation.selectors import active_cycle, new_label_count, policies_with_label_trigger
from apps.common.models import IllegalTransition
from apps.registry.selectors import current_model_version
from apps.reviews.choices import LabelSource, Split
from apps.reviews.models import DatasetSnapshot
from apps.reviews.snapshots import snapshot_label_counts
from apps.training.choices import TRAINED_KINDS
from apps.training.services import training_run_errors

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.db.models import Field

logger = logging.getLogger(__name__)

SCHEDULE_TASK = "automation.run_scheduled_cycle"
POLICY_FIELDS = (
    "name", "is_active", "kind", "hyperparameters", "label_source", "snapshot_seed", "min_new_labels", "schedule",
    "benchmark_snapshot", "benchmark_split", "metric", "min_improvement",
)  # fmt: skip
# Settings a policy's ``hyperparameters`` may not hold: the kind is its own field.
NOT_HYPERPARAMETERS = ("kind",)
MAX_SEED = 2_147_483_647


class PolicyError(ValueError):
    """A policy cannot be saved as asked; ``errors`` holds one message per field that was wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(f"{field}: {message}" for field, message in self.errors.items()))


class CycleRefused(ValueError):
    """A cycle was not started; the message says why."""


# --- Policies --------------------------------------------------------------------------------------------


def policy_errors(**fields: Any) -> dict[str, str]:
    """One message per bad field of a would-be policy (all of ``POLICY_FIELDS`` given)."""
    errors: dict[str, str] = {}
    name = str(fields.get("name") or "").strip()
    if not name:
        errors["name"] = "Give the policy a name."
    elif len(name) > 200:
        errors["name"] = "Keep the name to 200 characters."
    kind = fields.get("kind")
    if kind not in dict(TRAINED_KINDS):
        errors["kind"] = f"Unknown kind {kind!r}: choose one of {', '.join(dict(TRAINED_KINDS))}."
    hyperparameters = fields.get("hyperparameters")
    if not isinstance(hyperparameters, dict):
        errors["hyperparameters"] = 'Give the training settings as an object, e.g. {"tfidf_c": 8.0}, or {} for the defaults.'
    elif "kind" not in errors:
        misplaced = [name for name in NOT_HYPERPARAMETERS if name in hyperparameters]
        if misplaced:
            errors["hyperparameters"] = "The kind is a field of its own; leave it out of the training settings."
        else:
            problems = training_run_errors(snapshot=None, kind=kind, **hyperparameters)
            problems.pop("snapshot", None)
            if problems:
                errors["hyperparameters"] = " ".join(f"{key}: {message}" for key, message in problems.items())
    source = fields.get("label_source")
    if source not in LabelSource.values:
        errors["label_source"] = f"Unknown label source {source!r}: choose one of {', '.join(LabelSource.values)}."
    seed = fields.get("snapshot_seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        errors["snapshot_seed"] = f"The snapshot seed is a whole number from 0 to {MAX_SEED}."
    labels = fields.get("min_new_labels")
    if labels is not None:
        if not isinstance(labels, int) or isinstance(labels, bool) or not 1 <= labels <= MAX_SEED:
            errors["min_new_labels"] = (
                f"Give a number of labels from 1 to {MAX_SEED:,}, or leave it empty for no label trigger."
            )
        elif source == LabelSource.GOLD:
            errors["min_new_labels"] = (
                "A snapshot of gold labels takes in no human label, so new labels would retrain on the same data: "
                "choose the human or gold_and_human label source, or leave the label trigger empty."
            )
    schedule = str(fields.get("schedule") or "").strip()
    if schedule:
        try:
            _crontab(schedule)
        except ValueError as error:
            errors["schedule"] = (
                f"{schedule!r} is not a cron schedule ({error}): give five fields, minute hour day-of-month month "
                'day-of-week, e.g. "0 3 * * *".'
            )
    benchmark = fields.get("benchmark_snapshot")
    split = fields.get("benchmark_split")
    if split not in Split.values:
        errors["benchmark_split"] = f"Unknown split {split!r}: choose one of {', '.join(Split.values)}."
    if not isinstance(benchmark, DatasetSnapshot):
        errors["benchmark_snapshot"] = "Choose the snapshot whose split both models are scored on."
    elif (
        isinstance(split, str)  # always, once benchmark_split has no error: split is one of Split.values
        and "benchmark_split" not in errors
        and not sum(snapshot_label_counts(snapshot=benchmark)[split].values())
    ):
        errors["benchmark_split"] = f"The {split} split of snapshot {benchmark} is empty: choose another split or snapshot."
    if fields.get("metric") not in ComparisonMetric.values:
        errors["metric"] = f"Choose the metric to compare on: one of {', '.join(ComparisonMetric.values)}."
    margin = fields.get("min_improvement")
    if not isinstance(margin, (int, float)) or isinstance(margin, bool) or not 0 <= margin < 1:
        errors["min_improvement"] = "The margin is a share from 0 (just better) up to, not including, 1 (0.01 = one point)."
    return errors


def policy_create(*, created_by: User | None = None, **fields: Any) -> TrainingPolicy:
    """Save a new policy and its schedule's periodic task; ``PolicyError`` names every bad field."""
    values = {**_policy_defaults(), **fields}
    _check(values)
    with transaction.atomic():
        policy = TrainingPolicy.objects.create(created_by=created_by, **_cleaned(values))
        policy_schedule_sync(policy=policy)
    return policy


def policy_update(*, policy: TrainingPolicy, **changes: Any) -> TrainingPolicy:
    """Change some fields of a policy (the rest stay); its periodic task follows its schedule."""
    unknown = sorted(set(changes) - set(POLICY_FIELDS))
    if unknown:
        raise PolicyError({name: "Not a field of a training policy." for name in unknown})
    values = {**{name: getattr(policy, name) for name in POLICY_FIELDS}, **changes}
    _check(values, policy=policy)
    with transaction.atomic():
        for name, value in _cleaned(values).items():
            setattr(policy, name, value)
        policy.save()
        policy_schedule_sync(policy=policy)
    return policy


def policy_delete(*, policy: TrainingPolicy) -> None:
    """Delete a policy that has never run a cycle (one that has keeps its history: deactivate it instead)."""
    if policy.cycles.exists():
        raise PolicyError(
            {"policy": f"Policy {policy.name!r} has run cycles, whose history stays: set is_active to false instead."}
        )
    with transaction.atomic():
        if policy.periodic_task is not None:
            policy.periodic_task.delete()
        policy.delete()


def policy_schedule_sync(*, policy: TrainingPolicy) -> None:
    """Make the policy's django-celery-beat periodic task match its schedule (none when it has none)."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    task = policy.periodic_task
    if not policy.schedule:
        if task is not None:
            policy.periodic_task = None
            policy.save(update_fields=["periodic_task"])
            task.delete()
        return
    minute, hour, day_of_month, month_of_year, day_of_week = policy.schedule.split()
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
        day_of_week=day_of_week, timezone=settings.TIME_ZONE,
    )  # fmt: skip
    values = {
        "name": f"Retraining policy {policy.pk}",
        "task": SCHEDULE_TASK,
        "crontab": schedule,
        "args": json.dumps([policy.pk]),
        "enabled": policy.is_active,
        "description": f"Starts a retraining cycle of policy {policy.name!r} on its schedule.",
    }
    if task is None:
        policy.periodic_task = PeriodicTask.objects.create(**values)
        policy.save(update_fields=["periodic_task"])
        return
    for name, value in values.items():
        setattr(task, name, value)
    task.save()


def _policy_defaults() -> dict[str, Any]:
    return {
        name: cast("Field[Any, Any]", TrainingPolicy._meta.get_field(name)).get_default()  # columns, not relations
        for name in POLICY_FIELDS
        if name not in ("name", "benchmark_snapshot")
    } | {"hyperparameters": {}, "min_new_labels": None, "schedule": ""}


def _check(values: dict[str, Any], *, policy: TrainingPolicy | None = None) -> None:
    errors = policy_errors(**values)
    name = str(values.get("name") or "").strip()
    taken = TrainingPolicy.objects.filter(name=name)
    if policy is not None:
        taken = taken.exclude(pk=policy.pk)
    if "name" not in errors and taken.exists():
        errors["name"] = f"A policy named {name!r} exists already; choose another name."
    if errors:
        raise PolicyError(errors)


def _cleaned(values: dict[str, Any]) -> dict[str, Any]:
    cleaned = {name: values[name] for name in POLICY_FIELDS}
    cleaned["name"] = str(cleaned["name"]).strip()
    cleaned["schedule"] = " ".join(str(cleaned["schedule"] or "").split())
    cleaned["min_improvement"] = float(cleaned["min_improvement"])
    return cleaned


def _crontab(schedule: str) -> crontab:
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(f"it has {len(fields)} fields, not 5")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    try:
        return crontab(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year, day_of_week=day_of_week
        )
    except ParseException as error:  # not a ValueError: "1,,2" or "5-" would otherwise be a server error
        raise ValueError(str(error)) from None


# --- Cycles ----------------------------------------------------------------------------------------------


def cycle_start(
    *, policy: TrainingPolicy, trigger: str, created_by: User | None = None, enqueue: bool = True
) -> RetrainingCycle | None:
    """Queue a cycle of ``policy``, or return None when it has one queued or running already.

    The policy's row is locked while the trigger is checked, so two triggers at once start one cycle;
    the partial unique constraint holds it even so. A ``labels`` trigger starts a cycle only while the
    policy's count of new labels is reached. Refused (``CycleRefused``) for an inactive policy (except by
    hand) and while the broker is down (nothing is written then). ``enqueue=False`` leaves the cycle for
    the caller to run in this process (``CycleRunner.handle``).
    """

    with transaction.atomic():
        locked = TrainingPolicy.objects.select_for_update().get(pk=policy.pk)
        if not locked.is_active and trigger != CycleTrigger.MANUAL:
            raise CycleRefused(f"Policy {locked.name!r} is inactive: it starts no cycle by {trigger}.")
        if active_cycle(locked) is not None:
            return None
        labels = new_label_count(locked)
        if trigger == CycleTrigger.LABELS and (locked.min_new_labels is None or labels < locked.min_new_labels):
            return None
        try:
            with transaction.atomic():
                cycle = CycleJob.submit(
                    enqueue=enqueue,
                    policy=locked,
                    trigger=trigger,
                    labels_added=labels,
                    baseline_version=current_model_version(),
                    metric=locked.metric,
                    min_improvement=locked.min_improvement,
                    created_by=created_by,
                )
        except IntegrityError:
            return None
    logger.info("Queued %s (trigger: %s, %s new labels).", cycle, trigger, labels)
    return cycle


def cycle_cancel(*, cycle: RetrainingCycle, by: User | None = None) -> RetrainingCycle:
    """Cancel a cycle, and the training or evaluation run it is waiting for; ``IllegalTransition`` once it ended.

    A cycle deciding on promotion is past cancelling: the promotion may already have happened.
    """
    from apps.training.services import evaluation_run_cancel, training_run_cancel

    cycle.refresh_from_db(fields=["stage", "status"])
    if cycle.stage in (CycleStage.DECIDING, CycleStage.DONE) and not cycle.is_finished:
        raise IllegalTransition(
            f"Cycle {cycle.pk} is deciding on promotion and can no longer be cancelled; roll back the model if need be."
        )
    cycle = CycleJob.cancel(cycle.pk, by=by)
    cycle.refresh_from_db()
    for run, cancel in (
        (cycle.training_run, lambda job: training_run_cancel(run=job, by=by)),
        (cycle.candidate_evaluation, lambda job: evaluation_run_cancel(evaluation=job, by=by)),
        (cycle.current_evaluation, lambda job: evaluation_run_cancel(evaluation=job, by=by)),
    ):
        if run is not None and not run.is_finished:
            try:
                cancel(run)
            except IllegalTransition:
                pass  # it ended meanwhile
    return cycle


def policies_check_label_triggers() -> list[RetrainingCycle]:
    """Start a cycle of every active policy whose count of new labels is reached; the cycles started."""
    started = []
    for policy in policies_with_label_trigger():
        if active_cycle(policy) is not None or new_label_count(policy) < (policy.min_new_labels or 0):
            continue
        try:
            cycle = cycle_start(policy=policy, trigger=CycleTrigger.LABELS)
        except CycleRefused as error:
            logger.info("%s", error)
            continue
        if cycle is not None:
            started.append(cycle)
    return started


def labels_resolved() -> None:
    """Called where a review gets a resolution: checks the label triggers once the transaction commits.

    Cheap (one query when no policy has a label trigger) and never fails the labelling that called it:
    a broker outage is logged, and the beat task that checks every minute starts the cycle later.
    """
    connection = transaction.get_connection()
    # Once per transaction, however many reviews it resolves (an upload of labels resolves hundreds).
    if any(entry[1] is _check_label_triggers_safely for entry in connection.run_on_commit):
        return
    transaction.on_commit(_check_label_triggers_safely)


def _check_label_triggers_safely() -> None:
    try:
        policies_check_label_triggers()
    except Exception:  # the label is saved; the minutely check tries again
        logger.exception("Checking the retraining label triggers failed; the minutely check will try again.")
