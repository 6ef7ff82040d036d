"""The Celery application. Workers start with ``celery -A sentimentsite worker -Q gpu`` (or ``default``)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import celeryd_init

from sentimentsite.threads import torch_threads_bound

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sentimentsite.settings")

app = Celery("sentimentsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"], related_name="tasks")


@celeryd_init.connect
def _share_the_cores_between_pool_processes(*, options: dict[str, Any], **_: Any) -> None:
    """Bound torch's threads before the pool starts its processes, which inherit the bound."""
    solo = "solo" in str(options.get("pool", ""))
    # Celery's own default: one pool process per core.
    processes = 1 if solo else options.get("concurrency") or len(os.sched_getaffinity(0))
    torch_threads_bound(processes=processes)
