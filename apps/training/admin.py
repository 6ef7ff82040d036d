"""Admin for training and evaluation runs: start them through the services, cancel, retry, evaluate.

A run's row is written by its worker while it goes, so the change page is read-only: saving a form
over it would overwrite progress and cancellation. Runs are added through the services, which queue them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from apps.common.models import IllegalTransition
from apps.registry.selectors import model_version_queue
from apps.reviews.models import DatasetSnapshot
from apps.training.choices import EvaluationSplit, ModelKind
from apps.training.forms import EvaluationRunForm, TrainingRunForm
from apps.training.jobs import QUEUE_BY_KIND
from apps.training.models import EpochMetric, EvaluationDataset, EvaluationRun, TrainingRun
from apps.training.services import (
    RunConfigError,
    evaluation_run_cancel,
    evaluation_run_create,
    training_run_cancel,
    training_run_retry,
)
from workers.ml.config import TFIDF_SETTINGS, TRANSFORMER_SETTINGS

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Settings both kinds read; the add form lists them once, after each kind's own.
SHARED_SETTINGS = tuple(name for name in TFIDF_SETTINGS if name in TRANSFORMER_SETTINGS)
STATE_FIELDS = [
    "status",
    "created_by",
    "created_at",
    "started_at",
    "finished_at",
    "heartbeat_at",
    "worker",
    "device",
    "cancel_requested",
]
METRIC_FIELDS = ["accuracy", "precision", "recall", "f1", "f1_macro", "confusion_matrix", "metrics"]
EPOCH_FIELDS = ["epoch", "step", "train_loss", "validation_loss", "validation_accuracy", "validation_f1"]
DATASET_COLUMNS = ["id", "name", "source_name", "review_count", "positive_count", "negative_count", "created_at"]


class EpochMetricInline(admin.TabularInline):
    model = EpochMetric
    fields = [*EPOCH_FIELDS]
    readonly_fields = EPOCH_FIELDS
    extra = 0
    can_delete = False


class EvaluateActionForm(helpers.ActionForm):
    """The action bar's extra choices for "Evaluate the model of selected runs on …"."""

    evaluation_snapshot = forms.ModelChoiceField(
        queryset=DatasetSnapshot.objects.all(),
        required=False,
        label="Evaluate on",
        empty_label="each run's own snapshot",
    )
    evaluation_split = forms.ChoiceField(
        choices=EvaluationSplit.choices, initial=EvaluationSplit.TEST, required=False, label="split"
    )


class RunAdmin(admin.ModelAdmin):
    """What training and evaluation runs share: read-only rows, creation through a service-backed form."""

    add_form: type[forms.ModelForm]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Viewing a run is allowed; editing one is not (see the module docstring). Actions still work.
        return obj is None and super().has_change_permission(request)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[type[admin.options.InlineModelAdmin]]:
        return list(self.inlines) if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        created = form.create(created_by=request.user)
        # The admin goes on with ``obj`` (the log entry, the redirect): make it the row the service made.
        obj.pk = created.pk
        obj.refresh_from_db()
        self.message_user(
            request,
            f"Queued {created._meta.verbose_name} {created.pk} on the {self._queue_of(created)} queue.",
            messages.SUCCESS,
        )

    def _queue_of(self, job: Any) -> str:
        raise NotImplementedError

    def _cancel(self, request: HttpRequest, queryset: QuerySet[Any], cancel: Any) -> None:
        done, refused = [], []
        for job in queryset:
            try:
                cancel(job)
                done.append(str(job.pk))
            except IllegalTransition as error:
                refused.append(str(error))
        if done:
            self.message_user(
                request,
                f"Cancelled {', '.join(done)} (queued runs at once, running ones at their next step).",
                messages.SUCCESS,
            )
        for reason in refused:
            self.message_user(request, reason, messages.WARNING)


@admin.register(TrainingRun)
class TrainingRunAdmin(RunAdmin):
    add_form = TrainingRunForm
    action_form = EvaluateActionForm
    list_display = ["id", "kind", "model_summary", "snapshot", "status", "progress", "accuracy", "f1", "created_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["snapshot"]
    inlines = [EpochMetricInline]
    actions = ["cancel_runs", "retry_runs", "evaluate_runs"]
    add_fieldsets = [
        (None, {"fields": ["snapshot", "kind", "notes"]}),
        ("Transformer settings", {"fields": [name for name in TRANSFORMER_SETTINGS if name not in SHARED_SETTINGS]}),
        ("TF-IDF settings", {"fields": [name for name in TFIDF_SETTINGS if name not in SHARED_SETTINGS]}),
        ("Both kinds", {"fields": list(SHARED_SETTINGS)}),
    ]
    fieldsets = [
        (None, {"fields": ["snapshot", "kind", "notes", "model_version_link"]}),
        ("State", {"fields": [*STATE_FIELDS]}),
        (
            "Progress",
            {"fields": ["progress", "current_step", "total_steps", "eta_seconds", "train_samples_per_second"]},
        ),
        ("Test metrics", {"fields": [*METRIC_FIELDS]}),
        # Replaced per run by the settings its kind reads (get_fieldsets).
        ("Settings", {"fields": []}),
        ("Log", {"fields": ["error", "log_tail", "celery_task_id"]}),
    ]
    readonly_fields = ["progress", "model_version_link"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return self.add_fieldsets
        # A TF-IDF run shows its n-grams, min_df and C, not a learning rate it never used.
        title = "Transformer settings" if obj.kind == ModelKind.TRANSFORMER else "TF-IDF settings"
        return [
            (title, {"fields": [name for name, _ in obj.model_settings()]}) if name == "Settings" else (name, options)
            for name, options in self.fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly_fields

    @admin.display(description="Model", ordering="base_model")
    def model_summary(self, run: TrainingRun) -> str:
        if run.kind == ModelKind.TRANSFORMER:
            return run.base_model
        return f"word 1-{run.tfidf_ngram_max} grams, {'naive-Bayes' if run.tfidf_nb_weighting else 'idf'} weighted"

    @admin.display(description="Progress")
    def progress(self, run: TrainingRun) -> str:
        if run.total_steps:
            eta = f", about {run.eta_seconds:.0f} s left" if run.eta_seconds and not run.is_finished else ""
            return f"{run.progress_percent:.0f}% ({run.current_step}/{run.total_steps} steps{eta})"
        return f"{run.progress_percent:.0f}%"

    @admin.display(description="Model version")
    def model_version_link(self, run: TrainingRun) -> str:
        version = getattr(run, "model_version", None)
        if version is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:registry_modelversion_change", args=[version.pk]), version
        )

    def _queue_of(self, job: TrainingRun) -> str:
        return QUEUE_BY_KIND[job.kind]

    @admin.action(description="Cancel selected runs", permissions=["change"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        self._cancel(request, queryset, lambda run: training_run_cancel(run=run, by=cast("User", request.user)))

    @admin.action(description="Retry selected runs (new run, same configuration)", permissions=["change"])
    def retry_runs(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        for run in queryset.select_related("snapshot"):
            try:
                new = training_run_retry(run=run, by=cast("User", request.user))
            except (IllegalTransition, RunConfigError) as error:
                self.message_user(request, f"Run {run.pk} was not retried: {error}", messages.WARNING)
            else:
                self.message_user(request, f"Queued run {new.pk}, a retry of run {run.pk}.", messages.SUCCESS)

    @admin.action(
        description="Evaluate the model of selected runs on the snapshot and split chosen beside the action",
        permissions=["change"],
    )
    def evaluate_runs(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        choice = EvaluateActionForm(request.POST)
        choice.is_valid()
        snapshot = choice.cleaned_data.get("evaluation_snapshot")
        split = choice.cleaned_data.get("evaluation_split") or EvaluationSplit.TEST
        for run in queryset.select_related("model_version"):
            version = getattr(run, "model_version", None)
            if version is None:
                self.message_user(
                    request, f"Run {run.pk} has no model version (it has not succeeded).", messages.WARNING
                )
                continue
            try:
                evaluation = evaluation_run_create(
                    model_version=version, snapshot=snapshot, split=split, created_by=cast("User", request.user)
                )
            except RunConfigError as error:
                self.message_user(request, f"Run {run.pk} was not evaluated: {error}", messages.WARNING)
            else:
                self.message_user(request, f"Queued {evaluation}.", messages.SUCCESS)


@admin.register(EvaluationDataset)
class EvaluationDatasetAdmin(admin.ModelAdmin):
    """Uploaded evaluation files, read-only: they are added through a new evaluation (or the API)."""

    list_display = [*DATASET_COLUMNS]
    readonly_fields = [*DATASET_COLUMNS[1:], "filename", "created_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request)


@admin.register(EvaluationRun)
class EvaluationRunAdmin(RunAdmin):
    add_form = EvaluationRunForm
    list_display = [
        "id",
        "model_version",
        "snapshot",
        "split",
        "status",
        "processed",
        "total",
        "accuracy",
        "f1",
        "created_at",
    ]
    list_filter = ["status", "split"]
    list_select_related = ["model_version", "snapshot"]
    actions = ["cancel_evaluations"]
    add_fieldsets = [
        (None, {"fields": ["model_version", "split", "snapshot", "review_import", "dataset", "file", "dataset_name"]})
    ]
    fieldsets = [
        (None, {"fields": ["model_version", "split", "snapshot", "review_import", "dataset"]}),
        ("State", {"fields": [*STATE_FIELDS]}),
        ("Progress", {"fields": ["processed", "total"]}),
        ("Metrics", {"fields": [*METRIC_FIELDS, "slices"]}),
        ("Log", {"fields": ["error", "log_tail", "celery_task_id"]}),
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return self.add_fieldsets
        # A TF-IDF run shows its n-grams, min_df and C, not a learning rate it never used.
        title = "Transformer settings" if obj.kind == ModelKind.TRANSFORMER else "TF-IDF settings"
        return [
            (title, {"fields": [name for name, _ in obj.model_settings()]}) if name == "Settings" else (name, options)
            for name, options in self.fieldsets
        ]

    def _queue_of(self, job: EvaluationRun) -> str:
        return model_version_queue(job.model_version)

    @admin.action(description="Cancel selected evaluations", permissions=["change"])
    def cancel_evaluations(self, request: HttpRequest, queryset: QuerySet[EvaluationRun]) -> None:
        self._cancel(
            request, queryset, lambda evaluation: evaluation_run_cancel(evaluation=evaluation, by=cast("User", request.user))
        )
