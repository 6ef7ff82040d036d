"""Admin for predictions and batch prediction jobs.

A batch job's row is written by its worker while it runs, so its change page is read-only; jobs are
added through ``batch_prediction_job_create``, which validates the pool and queues them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.common.models import IllegalTransition
from apps.predictions.batch import (
    batch_prediction_job_cancel,
    batch_prediction_job_create,
    batch_prediction_job_errors,
    queue_for,
)
from apps.predictions.models import BatchPredictionJob, Prediction

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # the admin lets only signed-in staff in

CREATE_FIELDS = ["model_version", "pool", "snapshot", "split", "import_job"]


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["id", "model_version", "label", "confidence", "source", "user", "latency_ms", "created_at"]
    list_filter = ["source", "label"]
    raw_id_fields = ["review", "batch_job"]
    show_full_result_count = False


class BatchPredictionJobForm(forms.ModelForm):
    """The add form: the service's own checks, shown beside the fields they concern."""

    class Meta:
        model = BatchPredictionJob
        fields = CREATE_FIELDS

    def clean(self) -> dict[str, Any]:
        # A ModelForm's clean() hands back its cleaned_data, never None.
        cleaned = cast("dict[str, Any]", super().clean())
        if self.errors:
            return cleaned
        errors = batch_prediction_job_errors(
            model_version=cleaned.get("model_version"),
            pool=cleaned.get("pool") or "",
            snapshot=cleaned.get("snapshot"),
            split=cleaned.get("split") or "",
            import_job=cleaned.get("import_job"),
        )
        for field, message in errors.items():
            self.add_error(field if field in self.fields else None, message)
        return cleaned


@admin.register(BatchPredictionJob)
class BatchPredictionJobAdmin(admin.ModelAdmin):
    form = BatchPredictionJobForm
    list_display = [
        "id",
        "model_version",
        "pool",
        "snapshot",
        "split",
        "import_job",
        "status",
        "progress",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "pool"]
    list_select_related = ["model_version", "snapshot", "import_job", "created_by"]
    raw_id_fields = ["import_job"]
    actions = ["cancel_jobs"]
    fieldsets = [
        (None, {"fields": [*CREATE_FIELDS, "created_by"]}),
        (
            "State",
            {
                "fields": [
                    "status",
                    "progress",
                    "created_at",
                    "started_at",
                    "finished_at",
                    "heartbeat_at",
                    "worker",
                    "cancel_requested",
                ]
            },
        ),
        ("Log", {"fields": ["error", "log_tail", "celery_task_id"]}),
    ]
    add_fieldsets = [(None, {"fields": CREATE_FIELDS})]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Viewing a job is allowed; editing one is not (see the module docstring). Actions still work.
        return obj is None and super().has_change_permission(request)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else ["progress"]

    def save_model(self, request: HttpRequest, obj: BatchPredictionJob, form: Any, change: bool) -> None:
        # The form ran the service's checks in ``clean``.
        data = form.cleaned_data
        created = batch_prediction_job_create(
            model_version=data["model_version"],
            pool=data["pool"],
            snapshot=data.get("snapshot"),
            split=data.get("split") or "",
            import_job=data.get("import_job"),
            created_by=cast("User", request.user),
        )
        # The admin goes on with ``obj`` (the log entry, the redirect): make it the row the service made.
        obj.pk = created.pk
        obj.refresh_from_db()
        queue = queue_for(created.model_version)
        self.message_user(request, f"Queued batch prediction job {created.pk} on the {queue} queue.", messages.SUCCESS)

    @admin.display(description="Progress")
    def progress(self, job: BatchPredictionJob) -> str:
        if not job.total:
            return "100% (0 reviews)" if job.status == "succeeded" else f"{job.processed} reviews"
        return f"{100 * job.processed / job.total:.0f}% ({job.processed}/{job.total} reviews)"

    @admin.action(description="Cancel selected jobs", permissions=["change"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[BatchPredictionJob]) -> None:
        done = []
        for job in queryset:
            try:
                batch_prediction_job_cancel(job=job, by=cast("User", request.user))
            except IllegalTransition as error:
                self.message_user(request, str(error), messages.WARNING)
            else:
                done.append(str(job.pk))
        if done:
            self.message_user(
                request,
                f"Cancelled {', '.join(done)} (queued jobs at once, running ones after their current chunk).",
                messages.SUCCESS,
            )
