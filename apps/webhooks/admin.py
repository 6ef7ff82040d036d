"""Webhook subscribers (editable) and their deliveries (read-only, with every attempt) in the admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.webhooks.choices import SUBSCRIBABLE_EVENTS, WebhookEvent
from apps.webhooks.models import WebhookDelivery, WebhookSubscription
from apps.webhooks.services import WebhookError, secret_rotation_period, webhook_ping
from apps.webhooks.targets import TargetRefused, check_target


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=[(event, WebhookEvent(event).label) for event in SUBSCRIBABLE_EVENTS],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "events", "secret", "is_active"]
        # The secret is written, never shown again: not in the page, not in its source.
        widgets = {"secret": forms.PasswordInput(render_value=False)}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["secret"].required = False
            self.fields["secret"].help_text = "Leave blank to keep the current secret; type a new one to replace it."

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            check_target(url)
        except TargetRefused as error:
            raise forms.ValidationError(str(error)) from None
        return url

    def clean_secret(self) -> str:
        secret = self.cleaned_data["secret"]
        if not secret and self.instance.pk:
            return self.instance.secret
        if len(secret) < 16:
            raise forms.ValidationError("A secret is at least 16 characters.")
        return secret


class DeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = readonly_fields = ("created_at", "event", "status", "attempts", "response_status", "error", "next_attempt_at")
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    ordering = ["-created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        return super().get_queryset(request).defer("payload", "response_body", "attempt_log")


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ["id", "name", "url", "events", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "url"]
    inlines = [DeliveryInline]
    actions = ["send_ping"]

    def save_model(self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        else:
            # A new secret: the replaced one keeps signing for a while, so receivers switch without a gap.
            stored = WebhookSubscription.objects.only("secret", "previous_secret", "previous_secret_expires_at").get(
                pk=obj.pk
            )
            typed = obj.secret
            obj.secret, obj.previous_secret = stored.secret, stored.previous_secret
            obj.previous_secret_expires_at = stored.previous_secret_expires_at
            obj.rotate_secret(typed, keep_old_for=secret_rotation_period())
        super().save_model(request, obj, form, change)

    @admin.action(description="Send a test delivery (ping)", permissions=["change"])
    def send_ping(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        try:
            deliveries = [webhook_ping(subscription=subscription) for subscription in queryset]
        except WebhookError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        self.message_user(
            request, f"Queued {len(deliveries)} test deliveries; their outcome shows below each subscriber."
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "event",
        "subscription",
        "status",
        "attempts",
        "response_status",
        "created_at",
        "delivered_at",
    ]
    list_filter = ["status", "event"]
    list_select_related = ["subscription"]
    search_fields = ["event_key", "event_id", "subscription__name"]
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Read-only: the log of what was sent is not edited; view permission shows it.
        return False
