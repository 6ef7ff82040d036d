from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.labelling.forms import QueueForm
from apps.labelling.models import Annotation, Assignment, LabellingQueue, NoiseDetection, Resolution
from apps.labelling.ordering import queue_order_rebuild


# A change to any of these changes which reviews the queue holds or how many labels each needs.
ORDER_FIELDS = {"strategy", "overlap", "pool", "pool_snapshot", "pool_split", "pool_import"}


class QueueAdminForm(QueueForm):
    """The labelling pages' queue form (the same checks), plus whether the queue is active."""

    class Meta(QueueForm.Meta):
        fields = [*QueueForm.Meta.fields, "is_active"]


@admin.register(LabellingQueue)
class LabellingQueueAdmin(admin.ModelAdmin):
    form = QueueAdminForm
    list_display = ["name", "pool", "strategy", "overlap", "is_active", "ordered_at", "created_at"]
    list_filter = ["strategy", "pool", "is_active"]
    readonly_fields = ["created_by", "ordered_at", "ordered_with"]
    actions = ["reorder"]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # A new queue, or one whose strategy or overlap changed, gets its order (the labelling pages do the same).
        if not change or ORDER_FIELDS & set(form.changed_data):
            order = queue_order_rebuild(queue=form.instance)
            self.message_user(request, f"{form.instance.name}: {order.summary}", messages.SUCCESS)

    def save_model(self, request: HttpRequest, obj: LabellingQueue, form: Any, change: bool) -> None:
        if not change:
            assert isinstance(request.user, User)  # the admin lets signed-in staff in only
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Reorder (the current model's latest batch predictions and label-noise detections)")
    def reorder(self, request: HttpRequest, queryset: QuerySet[LabellingQueue]) -> None:
        for queue in queryset:
            order = queue_order_rebuild(queue=queue)
            self.message_user(request, f"{queue.name}: {order.summary}", messages.SUCCESS)


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "queue", "review", "user", "assigned_at", "expires_at", "completed_at", "skipped"]
    list_filter = ["queue", "skipped"]
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


@admin.register(NoiseDetection)
class NoiseDetectionAdmin(admin.ModelAdmin):
    """Read only: detections are started from the label-noise page or the API, and run on a worker."""

    list_display = ["id", "status", "snapshot", "split", "import_job", "reviews", "estimated_issues", "flagged", "created_at"]
    list_filter = ["status"]
    readonly_fields = [field.name for field in NoiseDetection._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
