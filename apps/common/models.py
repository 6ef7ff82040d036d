"""The state machine every background job shares (imports, training, evaluation, batch prediction), and API tokens."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import ClassVar, Self

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.common.choices import TERMINAL_STATUSES, JobStatus

LOG_TAIL_CHARS = 20_000


class IllegalTransition(Exception):
    """A job was asked to move to a state it cannot reach from where it is."""


class Job(models.Model):
    """``queued -> running -> succeeded | failed | cancelled``; terminal states are final."""

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    worker = models.CharField(max_length=255, blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    # When the job's message last reached the broker; null while it has not (the sweeper sends it then).
    dispatched_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    log_tail = models.TextField(blank=True)

    # Every concrete kind gets Django's default manager; declared for the type checker only.
    objects: ClassVar[models.Manager[Self]]

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    def _move(self, to: JobStatus, allowed_from: set[JobStatus]) -> None:
        if self.status not in allowed_from:
            raise IllegalTransition(f"{self._meta.verbose_name} {self.pk} is {self.status}; it cannot become {to}.")
        self.status = to

    def mark_running(self, *, worker: str | None = None) -> None:
        self._move(JobStatus.RUNNING, {JobStatus.QUEUED})
        now = timezone.now()
        self.started_at = now
        self.heartbeat_at = now
        self.worker = worker or socket.gethostname()
        self.save(update_fields=["status", "started_at", "heartbeat_at", "worker", "updated_at"])

    def mark_succeeded(self) -> None:
        self._move(JobStatus.SUCCEEDED, {JobStatus.RUNNING})
        self.finished_at = timezone.now()
        self.save()

    def mark_failed(self, error: str) -> None:
        self._move(JobStatus.FAILED, {JobStatus.QUEUED, JobStatus.RUNNING})
        self.error = error
        self.finished_at = timezone.now()
        self.save()

    def mark_cancelled(self) -> None:
        self._move(JobStatus.CANCELLED, {JobStatus.QUEUED, JobStatus.RUNNING})
        self.cancel_requested = True
        self.finished_at = timezone.now()
        self.save()

    def append_log(self, text: str) -> None:
        self.log_tail = (self.log_tail + text)[-LOG_TAIL_CHARS:]


class ApiToken(models.Model):
    """A secret a machine presents as ``Authorization: Token <key>``; only its sha256 is stored.

    The key is shown once, when it is created (``apps.common.services.api_token_create``). ``prefix``
    (its first characters) finds the row and tells tokens apart in lists without revealing them.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'nightly export'.")
    prefix = models.CharField(max_length=8, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True, help_text="sha256 of the key, hex.")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
