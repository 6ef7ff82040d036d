"""The Celery application. Workers start with ``celery -A sentimentsite worker -Q gpu`` (or ``default``)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sentimentsite.settings")

app = Celery("sentimentsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"], related_name="tasks")
