from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.common.models import IllegalTransition
from apps.reviews.models import DatasetSnapshot, ImportJob, Review
from apps.reviews.services import import_job_cancel

if TYPE_CHECKING:
    from django.contrib.auth.models import User


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["id", "source", "external_id", "gold_label", "rating", "origin_split", "created_at"]
    list_filter = ["source", "gold_label", "origin_split"]
    search_fields = ["external_id"]
    raw_id_fields = ["import_job"]
    show_full_result_count = False


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "source", "status", "rows_read", "rows_created", "rows_existing", "created_at"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in ImportJob._meta.fields]
    actions = ["cancel_imports"]

    @admin.action(description="Cancel selected imports", permissions=["change"])
    def cancel_imports(self, request: HttpRequest, queryset: QuerySet[ImportJob]) -> None:
        for job in queryset:
            try:
                import_job_cancel(job=job, by=cast("User", request.user))  # the admin lets only signed-in staff in
            except IllegalTransition as error:
                self.message_user(request, str(error), messages.WARNING)
            else:
                self.message_user(
                    request, f"Cancelled import {job.pk} (a queued one at once, a running one before its next chunk)."
                )


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "label_source", "train_count", "validation_count", "test_count", "content_hash", "created_at"]
    readonly_fields = [f.name for f in DatasetSnapshot._meta.fields]

    def has_add_permission(self, request) -> bool:
        # Every field is computed by snapshot_create from the labelled reviews, so an admin form could only
        # save an empty snapshot. They are made on Label > Snapshot labels, by the API or `create_snapshot`.
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # Snapshots are frozen; they are made with snapshot_create, never edited.
        return False
