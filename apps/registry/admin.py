from __future__ import annotations

from django.contrib import admin

from apps.registry.models import ModelVersion, Promotion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "base_model", "snapshot", "test_accuracy", "test_f1", "is_current", "artifact_size", "created_at"]
    list_filter = ["kind", "is_current"]
    readonly_fields = ["is_current"]


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    list_display = ["id", "action", "from_version", "to_version", "promoted_by", "forced", "created_at"]
    readonly_fields = [f.name for f in Promotion._meta.fields]

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False
