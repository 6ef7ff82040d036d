from __future__ import annotations

from django.contrib import admin

from apps.labelling.models import Annotation, Assignment, LabellingQueue, Resolution


@admin.register(LabellingQueue)
class LabellingQueueAdmin(admin.ModelAdmin):
    list_display = ["name", "pool", "strategy", "overlap", "is_active", "created_at"]
    list_filter = ["strategy", "pool", "is_active"]
    filter_horizontal = ["annotators"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "queue", "review", "user", "assigned_at", "expires_at", "completed_at"]
    list_filter = ["queue"]
    raw_id_fields = ["review"]


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "review", "user", "label", "queue", "created_at"]
    list_filter = ["label", "queue"]
    raw_id_fields = ["review"]


@admin.register(Resolution)
class ResolutionAdmin(admin.ModelAdmin):
    list_display = ["review", "label", "method", "settled_by", "updated_at"]
    list_filter = ["method", "label"]
    raw_id_fields = ["review"]
