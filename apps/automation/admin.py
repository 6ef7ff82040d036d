"""Training policies (editable, checked by the same rules as the API) and their cycles (read-only) in the admin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.automation.choices import CycleTrigger
from apps.automation.models import RetrainingCycle, TrainingPolicy
from apps.automation.services import (
    POLICY_FIELDS,
    CycleRefused,
    PolicyError,
    cycle_cancel,
    cycle_start,
    policy_create,
    policy_errors,
    policy_update,
)
from apps.common.models import IllegalTransition

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # the admin lets only signed-in staff in


class TrainingPolicyForm(forms.ModelForm):
    class Meta:
        model = TrainingPolicy
        fields = list(POLICY_FIELDS)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data  # ModelForm.clean returns cleaned_data itself
        if self.errors:
            return cleaned
        values = {name: cleaned.get(name) for name in POLICY_FIELDS}
        values["hyperparameters"] = values["hyperparameters"] or {}
        values["schedule"] = values["schedule"] or ""
        for field, message in policy_errors(**values).items():
            self.add_error(field if field in self.fields else None, message)
        return cleaned


@admin.register(TrainingPolicy)
class TrainingPolicyAdmin(admin.ModelAdmin):
    form = TrainingPolicyForm
    list_display = ["name", "is_active", "kind", "label_source", "triggers", "benchmark_snapshot", "metric", "min_improvement"]
    list_filter = ["is_active", "kind"]
    search_fields = ["name"]
    actions = ["start_cycle"]
    fieldsets = [
        (None, {"fields": ["name", "is_active"]}),
        ("What to train", {"fields": ["kind", "hyperparameters", "label_source", "snapshot_seed"]}),
        ("When", {"fields": ["min_new_labels", "schedule"]}),
        ("Comparison and promotion", {"fields": ["benchmark_snapshot", "benchmark_split", "metric", "min_improvement"]}),
    ]

    def save_model(self, request: HttpRequest, obj: TrainingPolicy, form: Any, change: bool) -> None:
        values = {name: form.cleaned_data[name] for name in POLICY_FIELDS}
        values["hyperparameters"] = values["hyperparameters"] or {}
        values["schedule"] = values["schedule"] or ""
        try:
            if change:
                policy_update(policy=obj, **values)
            else:
                saved = policy_create(created_by=cast("User", request.user), **values)
                obj.pk = saved.pk
        except PolicyError as error:  # checked by the form already; a race with another admin ends here
            messages.error(request, str(error))

    @admin.action(description="Start a retraining cycle now")
    def start_cycle(self, request: HttpRequest, queryset: QuerySet[TrainingPolicy]) -> None:
        for policy in queryset:
            try:
                cycle = cycle_start(policy=policy, trigger=CycleTrigger.MANUAL, created_by=cast("User", request.user))
            except CycleRefused as error:
                self.message_user(request, str(error), messages.ERROR)
                continue
            if cycle is None:
                self.message_user(request, f"Policy {policy.name!r} has a cycle under way already.", messages.WARNING)
            else:
                self.message_user(request, f"Queued cycle {cycle.pk} of {policy.name!r}.", messages.SUCCESS)


@admin.register(RetrainingCycle)
class RetrainingCycleAdmin(admin.ModelAdmin):
    list_display = ["id", "policy", "trigger", "status", "stage", "labels_added", "candidate", "promoted", "created_at"]
    list_filter = ["status", "promoted", "trigger", "policy"]
    list_select_related = ["policy", "candidate"]
    actions = ["cancel_cycles"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in RetrainingCycle._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # cycles are started from a policy

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The list (and its cancel action) for those who may change cycles; each cycle's page reads only.
        return obj is None and super().has_change_permission(request)

    @admin.action(description="Cancel the selected cycles")
    def cancel_cycles(self, request: HttpRequest, queryset: QuerySet[RetrainingCycle]) -> None:
        for cycle in queryset:
            try:
                cycle_cancel(cycle=cycle, by=cast("User", request.user))
            except IllegalTransition as error:
                self.message_user(request, str(error), messages.WARNING)
            else:
                self.message_user(request, f"Cancelled cycle {cycle.pk}.", messages.SUCCESS)
