"""Reads for the retraining loop: how many labels came in since the last snapshot, the cycles to show."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Max, QuerySet

from apps.automation.models import ACTIVE_STATUSES, RetrainingCycle, TrainingPolicy
from apps.labelling.choices import ResolutionMethod
from apps.labelling.models import Resolution
from apps.registry.selectors import current_model_version


def labels_since(policy: TrainingPolicy) -> datetime | None:
    """Since when new labels count for ``policy``: its last cycle's start, or the current model's snapshot.

    The later of the two, so labels a cycle has already seen (promoted or not) never start another one;
    None when there is neither (every resolved label counts).
    """
    moments = []
    current = current_model_version()
    if current is not None and current.snapshot is not None:
        moments.append(current.snapshot.created_at)
    last = policy.cycles.aggregate(last=Max("created_at"))["last"]
    if last is not None:
        moments.append(last)
    return max(moments) if moments else None


def new_label_count(policy: TrainingPolicy) -> int:
    """Reviews resolved by people (not a gold confirmation) since ``labels_since``: one count."""
    resolutions = Resolution.objects.exclude(method=ResolutionMethod.GOLD)
    since = labels_since(policy)
    if since is not None:
        resolutions = resolutions.filter(updated_at__gt=since)
    return resolutions.count()


def policies_with_label_trigger() -> QuerySet[TrainingPolicy]:
    return TrainingPolicy.objects.filter(is_active=True, min_new_labels__isnull=False).order_by("pk")


def active_cycle(policy: TrainingPolicy) -> RetrainingCycle | None:
    return policy.cycles.filter(status__in=ACTIVE_STATUSES).first()


def cycle_list() -> QuerySet[RetrainingCycle]:
    return RetrainingCycle.objects.select_related(
        "policy", "snapshot", "training_run", "candidate", "baseline_version", "promotion"
    ).order_by("-created_at", "-pk")
