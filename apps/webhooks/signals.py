"""What sends the webhook events: a run, evaluation or import reaching its end, a change of the current version.

Receivers of ``post_save``, so every path that ends a job (the worker, a cancellation, the reaper)
announces it without knowing webhooks exist. A job saved again after it ended sends nothing new: each
event has a key (``training_run:17``) that a subscriber receives once.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from apps.common.choices import TERMINAL_STATUSES
from apps.registry.models import ModelVersion, Promotion
from apps.reviews.models import ImportJob
from apps.training.models import EvaluationRun, TrainingRun
from apps.webhooks.choices import WebhookEvent
from apps.webhooks.services import webhook_event_emit

METRICS = ("accuracy", "precision", "recall", "f1", "f1_macro")


def _finished(instance: Any, update_fields: Any) -> bool:
    return instance.status in TERMINAL_STATUSES and (update_fields is None or "status" in update_fields)


def _times(job: Any) -> dict[str, Any]:
    return {"created_at": job.created_at, "started_at": job.started_at, "finished_at": job.finished_at}


@receiver(post_save, sender=TrainingRun, dispatch_uid="webhooks.training_run_finished")
def training_run_finished(sender: type, instance: TrainingRun, update_fields: Any = None, **_: Any) -> None:
    if not _finished(instance, update_fields):
        return
    version = ModelVersion.objects.filter(training_run_id=instance.pk).values_list("pk", flat=True).first()
    webhook_event_emit(
        event=WebhookEvent.TRAINING_RUN_FINISHED,
        key=f"training_run:{instance.pk}",
        data={
            "training_run": {
                "id": instance.pk,
                "status": instance.status,
                "kind": instance.kind,
                "base_model": instance.base_model,
                "snapshot": instance.snapshot_id,
                **{name: getattr(instance, name) for name in METRICS},
                "confusion_matrix": instance.confusion_matrix,
                "model_version": version,
                "error": instance.error,
                **_times(instance),
            },
            "path": f"/api/training-runs/{instance.pk}/",
        },
    )


@receiver(post_save, sender=EvaluationRun, dispatch_uid="webhooks.evaluation_run_finished")
def evaluation_run_finished(sender: type, instance: EvaluationRun, update_fields: Any = None, **_: Any) -> None:
    if not _finished(instance, update_fields):
        return
    webhook_event_emit(
        event=WebhookEvent.EVALUATION_RUN_FINISHED,
        key=f"evaluation_run:{instance.pk}",
        data={
            "evaluation_run": {
                "id": instance.pk,
                "status": instance.status,
                "model_version": instance.model_version_id,
                "snapshot": instance.snapshot_id,
                "split": instance.split,
                **{name: getattr(instance, name) for name in METRICS},
                "confusion_matrix": instance.confusion_matrix,
                "error": instance.error,
                **_times(instance),
            },
            "path": f"/api/evaluation-runs/{instance.pk}/",
        },
    )


@receiver(post_save, sender=ImportJob, dispatch_uid="webhooks.import_finished")
def import_finished(sender: type, instance: ImportJob, update_fields: Any = None, **_: Any) -> None:
    if not _finished(instance, update_fields):
        return
    webhook_event_emit(
        event=WebhookEvent.IMPORT_FINISHED,
        key=f"import:{instance.pk}",
        data={
            "import": {
                "id": instance.pk,
                "status": instance.status,
                "source_name": instance.source_name,
                "rows_read": instance.rows_read,
                "rows_created": instance.rows_created,
                "rows_existing": instance.rows_existing,
                "error": instance.error,
                **_times(instance),
            },
            "path": f"/api/imports/{instance.pk}/",
        },
    )


@receiver(post_save, sender=Promotion, dispatch_uid="webhooks.model_version_promoted")
def model_version_promoted(sender: type, instance: Promotion, created: bool = False, **_: Any) -> None:
    if not created:
        return
    version = ModelVersion.objects.get(pk=instance.to_version_id)
    webhook_event_emit(
        event=WebhookEvent.MODEL_VERSION_PROMOTED,
        key=f"promotion:{instance.pk}",
        data={
            "promotion": {
                "id": instance.pk,
                "action": instance.action,
                "from_version": instance.from_version_id,
                "to_version": instance.to_version_id,
                "promoted_by": instance.promoted_by.get_username() if instance.promoted_by is not None else None,
                "reason": instance.reason,
                "forced": instance.forced,
                "created_at": instance.created_at,
            },
            "model_version": {
                "id": version.pk,
                "kind": version.kind,
                "base_model": version.base_model,
                "snapshot": version.snapshot_id,
                "test_accuracy": version.test_accuracy,
                "test_f1": version.test_f1,
            },
            "path": f"/api/models/{version.pk}/",
        },
    )
