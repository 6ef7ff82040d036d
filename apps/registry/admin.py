"""Admin for the model registry: versions (promote, roll back) and the read-only promotion history.

A version's row is written by the training run that produced it and its ``is_current`` flag only by
the promotion services, so versions are read-only here and never added or deleted by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from apps.common.broker import BrokerUnavailable
from apps.common.models import IllegalTransition
from apps.common.roles import is_ml_admin
from apps.registry.ensembles import EnsembleRequestError, ensemble_build_cancel, ensemble_build_create
from apps.registry.models import EnsembleBuild, ModelVersion, Promotion
from apps.registry.selectors import current_model_version, rollback_target
from apps.registry.services import PromotionError, model_version_promote, model_version_rollback

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # the admin lets only signed-in staff in


class RollbackForm(forms.Form):
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Why the change is made; it is kept in the promotion history.",
    )


class PromoteForm(RollbackForm):
    force = forms.BooleanField(
        required=False,
        label="Force",
        help_text="Promote even though its test accuracy is below the current version's on the same snapshot. "
        "A forced promotion needs a reason.",
    )


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "current",
        "kind",
        "base_model",
        "snapshot",
        "run",
        "accuracy",
        "f1",
        "size",
        "created_at",
    ]
    list_filter = ["is_current", "kind"]
    list_select_related = ["snapshot", "training_run"]
    readonly_fields = [field.name for field in ModelVersion._meta.fields]
    actions = ["promote_to_current", "rollback_to_previous", "build_ensemble"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Versions come from succeeded training runs.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The history, predictions and batch jobs point at versions: they stay.
        return False

    def has_promote_permission(self, request: HttpRequest) -> bool:
        return is_ml_admin(request.user)

    def has_build_permission(self, request: HttpRequest) -> bool:
        return is_ml_admin(request.user)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*self.readonly_fields, "ensemble_members"]

    @admin.display(description="Ensemble members")
    def ensemble_members(self, version: ModelVersion) -> str:
        memberships = list(version.memberships.order_by("position"))
        if not memberships:
            return "-"
        return format_html(
            "<br>".join(["{}"] * len(memberships)),
            *(f"model version {item.member_id}, weight {item.weight:.4f}" for item in memberships),
        )

    @admin.action(description="Build an ensemble of the selected versions", permissions=["build"])
    def build_ensemble(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        """Queues an ensemble build of the selected versions (two or more, of one snapshot)."""
        members = list(queryset.select_related("snapshot").order_by("pk"))
        try:
            build = ensemble_build_create(members=members, created_by=cast("User", request.user))
        except (EnsembleRequestError, BrokerUnavailable) as error:
            self.message_user(request, f"No ensemble was built: {error}", messages.ERROR)
            return
        link = reverse("admin:registry_ensemblebuild_change", args=[build.pk], current_app=self.admin_site.name)
        self.message_user(
            request,
            format_html(
                'Queued <a href="{}">ensemble build {}</a> of model versions {}; it registers a new version when it succeeds.',
                link,
                build.pk,
                ", ".join(str(member.pk) for member in members),
            ),
            messages.SUCCESS,
        )

    def get_urls(self) -> list[URLPattern]:
        rollback = path(
            "rollback/",
            self.admin_site.admin_view(self.rollback_view),
            name="registry_modelversion_rollback",
        )
        return [rollback, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_roll_back": self.has_promote_permission(request)}
        return super().changelist_view(request, extra_context)

    @admin.display(description="Current", boolean=True, ordering="is_current")
    def current(self, version: ModelVersion) -> bool:
        return version.is_current

    @admin.display(description="Training run", ordering="training_run")
    def run(self, version: ModelVersion) -> str:
        if version.training_run_id is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:training_trainingrun_change", args=[version.training_run_id]),
            f"Run {version.training_run_id}",
        )

    @admin.display(description="Test accuracy", ordering="test_accuracy")
    def accuracy(self, version: ModelVersion) -> str:
        return _score(version.test_accuracy)

    @admin.display(description="Test F1", ordering="test_f1")
    def f1(self, version: ModelVersion) -> str:
        return _score(version.test_f1)

    @admin.display(description="Artifact size", ordering="artifact_size")
    def size(self, version: ModelVersion) -> str:
        return filesizeformat(version.artifact_size)

    @admin.action(description="Promote to current", permissions=["promote"])
    def promote_to_current(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> HttpResponse | None:
        """Asks for a reason (and force) on a confirmation page, then promotes the one selected version."""
        selected = list(queryset.select_related("snapshot")[:2])
        if len(selected) != 1:
            self.message_user(request, "Select exactly one model version to promote.", messages.WARNING)
            return None
        version = selected[0]
        confirmed = request.POST.get("confirm") == "yes"
        form = PromoteForm(request.POST if confirmed else None)
        refusal = ""
        if confirmed and form.is_valid():
            try:
                promotion = model_version_promote(
                    version=version,
                    by=cast("User", request.user),
                    reason=form.cleaned_data["reason"],
                    force=form.cleaned_data["force"],
                )
            except PromotionError as error:
                refusal = str(error)
            else:
                was = f" (was model version {promotion.from_version_id})" if promotion.from_version_id else ""
                forced = " The promotion was forced." if promotion.forced else ""
                self.message_user(
                    request, f"Model version {version.pk} is now current{was}.{forced}", messages.SUCCESS
                )
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Promote model version {version.pk} to current",
            "opts": self.model._meta,
            "version": version,
            "current": current_model_version(),
            "form": form,
            "refusal": refusal,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/registry/modelversion/promote_confirmation.html", context)

    @admin.action(description="Roll back to the previous version (ignores the selection)", permissions=["promote"])
    def rollback_to_previous(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:registry_modelversion_rollback", current_app=self.admin_site.name))

    def rollback_view(self, request: HttpRequest) -> HttpResponse:
        """A confirmation page saying which version becomes current again, with a reason to give."""
        if not self.has_promote_permission(request):
            raise PermissionDenied
        form = RollbackForm(request.POST if request.method == "POST" else None)
        refusal = ""
        if request.method == "POST" and form.is_valid():
            try:
                promotion = model_version_rollback(by=cast("User", request.user), reason=form.cleaned_data["reason"])
            except PromotionError as error:
                refusal = str(error)
            else:
                self.message_user(
                    request,
                    f"Rolled back: model version {promotion.to_version_id} is current again "
                    f"(was model version {promotion.from_version_id}).",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:registry_modelversion_changelist", current_app=self.admin_site.name)
                )
        current = current_model_version()
        context = {
            **self.admin_site.each_context(request),
            "title": "Roll back to the previous model version",
            "opts": self.model._meta,
            "current": current,
            "target": rollback_target(current) if current is not None else None,
            "form": form,
            "refusal": refusal,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/registry/modelversion/rollback_confirmation.html", context)


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    """The history of the current version: read-only, written only by promotions and rollbacks."""

    list_display = ["id", "action", "from_version", "to_version", "promoted_by", "forced", "reason", "created_at"]
    list_filter = ["action", "forced"]
    list_select_related = ["from_version", "to_version", "promoted_by"]
    readonly_fields = [field.name for field in Promotion._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(EnsembleBuild)
class EnsembleBuildAdmin(admin.ModelAdmin):
    """Builds are queued from the model versions' action "Build an ensemble"; here they are followed or cancelled."""

    list_display = ["id", "status", "snapshot", "member_list", "model_version", "accuracy", "f1", "created_by", "created_at"]
    list_filter = ["status"]
    list_select_related = ["snapshot", "model_version", "created_by"]
    readonly_fields = [field.name for field in EnsembleBuild._meta.fields] + ["member_list"]
    actions = ["cancel_builds"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EnsembleBuild]:
        return super().get_queryset(request).prefetch_related("members")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return is_ml_admin(request.user)

    @admin.display(description="Members")
    def member_list(self, build: EnsembleBuild) -> str:
        return ", ".join(f"v{member.pk}" for member in sorted(build.members.all(), key=lambda member: member.pk))

    @admin.action(description="Cancel the selected builds", permissions=["cancel"])
    def cancel_builds(self, request: HttpRequest, queryset: QuerySet[EnsembleBuild]) -> None:
        for build in queryset:
            try:
                ensemble_build_cancel(build=build, by=cast("User", request.user))
            except IllegalTransition as error:
                self.message_user(request, str(error), messages.WARNING)
            else:
                self.message_user(request, f"Cancelled ensemble build {build.pk}.", messages.SUCCESS)


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


# Hugging Face Hub jobs have their own module; importing it registers their admin.
from apps.registry import admin_hub as admin_hub  # noqa: E402,F401
