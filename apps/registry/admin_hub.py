"""Admin for Hugging Face Hub jobs: an ML admin publishes a version or registers a model trained elsewhere.

The add form checks what the services check (token, repository id, a transformer two-label version, a
snapshot with test reviews) and queues the job through them; jobs are read-only once made.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html

from apps.common.roles import is_ml_admin
from apps.registry.hub import (
    HubJobKind,
    hub_publish_check,
    hub_publish_submit,
    hub_register_check,
    hub_register_submit,
)
from apps.registry.models import HubJob, ModelVersion
from apps.training.choices import ModelKind
from workers.ml.hub import HubError


class HubJobForm(forms.ModelForm):
    class Meta:
        model = HubJob
        fields = ["action", "model_version", "repo_id", "private", "license", "source", "revision", "snapshot"]
        labels = {"model_version": "Version to publish", "snapshot": "Score it on the test split of"}
        help_texts = {
            "action": "Publish: send a version to the Hub with the workers' HF_TOKEN. Register: bring in a "
            "two-label sentiment classifier fine-tuned elsewhere (safetensors only, no remote code).",
            "private": "Publish: a new repository is private unless this is unticked.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The job's own page shows every field read-only, so its form has none of these.
        if "model_version" in self.fields:
            cast("forms.ModelChoiceField", self.fields["model_version"]).queryset = ModelVersion.objects.filter(kind=ModelKind.TRANSFORMER)
        if "action" in self.fields:
            self.fields["action"].widget = forms.RadioSelect(choices=HubJob.Action.choices)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        try:
            if data.get("action") == HubJob.Action.PUBLISH:
                if data.get("model_version") is None:
                    raise forms.ValidationError({"model_version": "Choose the version to publish."})
                data["repo_id"], data["license"] = hub_publish_check(
                    version=data["model_version"], repo_id=data.get("repo_id", ""), license=data.get("license", "")
                )
            elif data.get("action") == HubJob.Action.REGISTER:
                if data.get("snapshot") is None:
                    raise forms.ValidationError({"snapshot": "Choose the snapshot whose test split scores the model."})
                data["source"] = hub_register_check(
                    source=data.get("source", ""), snapshot=data["snapshot"], revision=data.get("revision") or ""
                )
        except HubError as error:
            raise forms.ValidationError(str(error)) from None
        return data

    def create(self, *, created_by: Any) -> HubJob:
        data = self.cleaned_data
        if data["action"] == HubJob.Action.PUBLISH:
            return hub_publish_submit(
                version=data["model_version"], repo_id=data["repo_id"], private=data["private"],
                license=data["license"], by=created_by,
            )  # fmt: skip
        return hub_register_submit(
            source=data["source"], snapshot=data["snapshot"], revision=data.get("revision", ""), by=created_by
        )


@admin.register(HubJob)
class HubJobAdmin(admin.ModelAdmin):
    form = HubJobForm
    list_display = ["id", "action", "status", "model_version", "target", "result", "created_at"]
    list_filter = ["action", "status"]
    list_select_related = ["model_version"]

    add_fieldsets = [
        (None, {"fields": ["action"]}),
        ("Publish a version", {"fields": ["model_version", "repo_id", "private", "license"]}),
        ("Register a model trained elsewhere", {"fields": ["source", "revision", "snapshot"]}),
    ]
    view_fields = [
        "action", "status", "model_version", "repo_id", "private", "license", "source", "revision", "snapshot",
        "result_url", "commit_oid", "error", "log_tail", "created_by", "created_at", "started_at", "finished_at",
        "worker",
    ]  # fmt: skip

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.add_fieldsets if obj is None else [(None, {"fields": self.view_fields})]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.view_fields if obj is not None else []

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_ml_admin(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A job is a record of what was sent or brought in: it is never edited.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_ml_admin(request.user)

    @admin.display(description="Repository or source")
    def target(self, job: HubJob) -> str:
        if job.action == HubJob.Action.PUBLISH:
            return f"{job.repo_id} ({'private' if job.private else 'public'})"
        return job.source

    @admin.display(description="Result")
    def result(self, job: HubJob) -> str:
        if job.error:
            return job.error[:120]
        if job.result_url.startswith(("https://", "http://")):
            return format_html('<a href="{}" rel="noopener">{}</a>', job.result_url, job.result_url)
        return job.result_url or "-"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        created = form.create(created_by=request.user)
        # The admin goes on with ``obj`` (the log entry, the redirect): make it the row the service made.
        obj.pk = created.pk
        obj.refresh_from_db()
        self.message_user(
            request, f"Queued {created} on the {HubJobKind.queue_for(created)} queue.", messages.SUCCESS
        )
