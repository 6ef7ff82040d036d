"""Webhook subscribers and the log of every delivery to them."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from apps.webhooks.choices import DeliveryStatus, WebhookEvent


class WebhookSubscription(models.Model):
    """A URL that receives the events it subscribed to, each POSTed as JSON and signed with its secret."""

    name = models.CharField(max_length=200, help_text="Who receives it, e.g. 'CI deploy hook'.")
    url = models.URLField(
        max_length=2000, help_text="An http(s) URL on a public address (see WEBHOOK_ALLOWED_NETWORKS)."
    )
    secret = models.CharField(
        max_length=200,
        help_text="Signs every delivery (Standard Webhooks, HMAC-SHA256); the receiver checks the signature with it.",
    )
    # During a rotation the replaced secret signs too, until the receiver has moved to the new one.
    previous_secret = models.CharField(max_length=200, blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    events = models.JSONField(default=list, help_text="The event names it receives.")
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"

    def rotate_secret(self, new_secret: str, *, keep_old_for: timedelta) -> None:
        """Sign with ``new_secret`` from now on, and with the current one as well for ``keep_old_for``."""
        if new_secret == self.secret:
            return
        self.previous_secret = self.secret
        self.previous_secret_expires_at = timezone.now() + keep_old_for
        self.secret = new_secret

    def signing_secrets(self) -> list[str]:
        """The secrets a delivery is signed with now: the current one, and the previous one while it lasts."""
        expires = self.previous_secret_expires_at
        if self.previous_secret and expires is not None and expires > timezone.now():
            return [self.secret, self.previous_secret]
        return [self.secret]


class WebhookDelivery(models.Model):
    """One event sent to one subscriber: every attempt, its answer, and when the next try is due."""

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64, choices=WebhookEvent.choices)
    event_id = models.UUIDField(default=uuid.uuid4, help_text="The event's id; the same for every subscriber.")
    event_key = models.CharField(max_length=200, help_text="What happened, e.g. 'training_run:17', so it is sent once.")
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The start of the receiver's last answer.")
    error = models.TextField(blank=True, help_text="Why the last attempt failed.")
    duration_ms = models.FloatField(null=True, blank=True)
    attempt_log = models.TextField(blank=True, help_text="One line per attempt.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event_key"], name="webhook_delivery_once_per_event"),
        ]
        indexes = [models.Index(fields=["subscription", "-id"], name="webhook_delivery_sub_idx")]

    def __str__(self) -> str:
        return f"{self.event} to {self.subscription_id} ({self.status})"
