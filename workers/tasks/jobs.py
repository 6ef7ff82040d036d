"""The job maintenance thread every worker runs: stale jobs reaped, lost messages sent again.

No Celery beat is needed: each worker does it, and the work is idempotent (rows are claimed under locks
and a re-sent message only says "look at job N").
"""

from __future__ import annotations

from typing import Any

from celery.signals import worker_ready, worker_shutdown

from apps.common.maintenance import Maintenance

_maintenance = Maintenance()


@worker_ready.connect
def start_job_maintenance(**_: Any) -> None:
    _maintenance.start()


@worker_shutdown.connect
def stop_job_maintenance(**_: Any) -> None:
    _maintenance.stop.set()
