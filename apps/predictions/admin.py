from __future__ import annotations

from django.contrib import admin

from apps.predictions.models import BatchPredictionJob, Prediction


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["id", "model_version", "label", "confidence", "source", "user", "latency_ms", "created_at"]
    list_filter = ["source", "label"]
    raw_id_fields = ["review", "batch_job"]
    show_full_result_count = False


@admin.register(BatchPredictionJob)
class BatchPredictionJobAdmin(admin.ModelAdmin):
    list_display = ["id", "model_version", "pool", "split", "status", "processed", "total", "created_at"]
    list_filter = ["status"]
