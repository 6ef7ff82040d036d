"""A cycle that ends (promoted or not, failed, cancelled) sends ``cycle.finished`` to webhook subscribers."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from apps.automation.models import RetrainingCycle
from apps.common.choices import TERMINAL_STATUSES
from apps.webhooks.choices import WebhookEvent
from apps.webhooks.services import webhook_event_emit


@receiver(post_save, sender=RetrainingCycle, dispatch_uid="automation.cycle_finished")
def cycle_finished(sender: type, instance: RetrainingCycle, update_fields: Any = None, **_: Any) -> None:
    if instance.status not in TERMINAL_STATUSES or (update_fields is not None and "status" not in update_fields):
        return
    webhook_event_emit(
        event=WebhookEvent.CYCLE_FINISHED,
        key=f"retraining_cycle:{instance.pk}",
        data={
            "cycle": {
                "id": instance.pk,
                "policy": instance.policy_id,
                "status": instance.status,
                "trigger": instance.trigger,
                "labels_added": instance.labels_added,
                "snapshot": instance.snapshot_id,
                "training_run": instance.training_run_id,
                "candidate": instance.candidate_id,
                "current_version": instance.baseline_version_id,
                "metric": instance.metric,
                "candidate_score": instance.candidate_score,
                "current_score": instance.current_score,
                "benchmark_reviews": instance.benchmark_reviews,
                "promoted": instance.promoted,
                "decision": instance.decision,
                "error": instance.error,
                "created_at": instance.created_at,
                "started_at": instance.started_at,
                "finished_at": instance.finished_at,
            },
            "path": f"/api/retraining-cycles/{instance.pk}/",
        },
    )
