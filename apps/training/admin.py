from __future__ import annotations

from django.contrib import admin

from apps.training.models import EpochMetric, EvaluationRun, TrainingRun


class EpochMetricInline(admin.TabularInline):
    model = EpochMetric
    fields = ["epoch", "step", "train_loss", "validation_loss", "validation_accuracy", "validation_f1"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "base_model", "snapshot", "status", "current_step", "total_steps", "accuracy", "f1", "created_at"]
    list_filter = ["status", "kind"]
    inlines = [EpochMetricInline]


@admin.register(EvaluationRun)
class EvaluationRunAdmin(admin.ModelAdmin):
    list_display = ["id", "model_version", "snapshot", "split", "status", "accuracy", "f1", "created_at"]
    list_filter = ["status", "split"]
