"""What every worker does in the background for jobs of every kind: reap the stale, send the lost again.

- **Sweep** (``sweep_queued``): a queued job whose message was never sent (the broker went down between
  commit and send) or has vanished from the broker (a broker restarted empty) is sent again. A message
  is only ever "look at job N": duplicates are harmless because a worker claims the row under a lock.
- **Reap** (``reap_stale``): a running job whose heartbeat stopped is failed, and the kind removes what
  it half-wrote (``discard_for``). Nothing is retried automatically: a job that killed its worker would
  kill the next one.
- ``Maintenance`` is the thread that does both, through database restarts.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.common import broker
from apps.common.choices import JobStatus
from apps.common.execution import TRANSIENT_DB_ERRORS
from apps.common.jobs import JobRunner

logger = logging.getLogger(__name__)

# A queued job's message is sent on commit; the sweeper leaves it this long before sending it itself.
UNSENT_GRACE_SECONDS = 10
STALE_MESSAGE = (
    "The worker stopped sending heartbeats (killed or out of memory?): the last one came at {last} from "
    "{worker}, more than {seconds} s ago. The {what} was marked failed; retry it once the worker is healthy"
    "{advice}."
)


def reap_stale(*, now: datetime | None = None) -> int:
    """Mark failed every running job, of any kind, whose heartbeat is older than RUN_STALE_AFTER_SECONDS."""
    seconds = settings.RUN_STALE_AFTER_SECONDS
    cutoff = (now or timezone.now()) - timedelta(seconds=seconds)
    stale = Q(status=JobStatus.RUNNING) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    reaped = 0
    for runner in JobRunner.kinds.values():
        model = runner.model
        for pk in list(model.objects.filter(stale).values_list("pk", flat=True)):
            with transaction.atomic():
                job = model.objects.select_for_update(skip_locked=True).filter(stale, pk=pk).first()
                if job is None:
                    continue
                last = job.heartbeat_at or job.started_at
                message = STALE_MESSAGE.format(
                    last=timezone.localtime(last).isoformat(timespec="seconds") if last else "never",
                    worker=job.worker or "an unknown worker",
                    seconds=seconds,
                    what=runner.what,
                    advice=runner.stale_advice(),
                )
                # What the dead worker half-wrote goes before the row says the job has ended.
                runner.discard_for(pk)
                job.append_log(message + "\n")
                job.mark_failed(message)
            reaped += 1
            logger.warning("Marked %s failed: no heartbeat since %s.", job, last)
    return reaped


def sweep_queued(*, now: datetime | None = None) -> int:
    """Send again the messages of queued jobs that were never sent or are no longer in the broker.

    A job sent at least JOB_REDISPATCH_SECONDS ago that is still queued and whose task id is neither
    waiting in its queue nor held unacknowledged by a worker has lost its message (a broker restarted
    empty): it is sent again. Where the broker cannot be inspected, only never-sent jobs are sent.
    Returns how many messages were sent.
    """
    now = now or timezone.now()
    unsent_before = now - timedelta(seconds=UNSENT_GRACE_SECONDS)
    lost_before = now - timedelta(seconds=settings.JOB_REDISPATCH_SECONDS)
    sent = 0
    waiting: set[str] | None = None
    inspected = False
    for runner in JobRunner.kinds.values():
        queued = runner.model.objects.filter(status=JobStatus.QUEUED).exclude(celery_task_id="")
        for pk in queued.filter(dispatched_at__isnull=True, created_at__lt=unsent_before).values_list("pk", flat=True):
            if runner.dispatch(pk):
                sent += 1
                logger.warning("Sent %s %s, whose message had never reached the broker.", runner.what, pk)
        candidates = list(queued.filter(dispatched_at__lt=lost_before).values_list("pk", "celery_task_id"))
        if not candidates:
            continue
        if not inspected:
            waiting, inspected = broker.task_ids_waiting(("default", "gpu")), True
        if waiting is None:
            continue
        for pk, task_id in candidates:
            if task_id not in waiting and runner.dispatch(pk):
                sent += 1
                logger.warning("Sent %s %s again: its message was no longer in the broker.", runner.what, pk)
    return sent


class Maintenance:
    """The thread every worker runs: reap stale jobs and sweep queued ones, through database restarts.

    After the database has been unreachable, reaping waits for RUN_STALE_AFTER_SECONDS of a healthy
    database, since no heartbeat could be written meanwhile: a blip must not fail the jobs it paused.
    """

    def __init__(self) -> None:
        self.stop = threading.Event()
        # A worker that has just started knows of no outage: it reaps at once.
        self.healthy_since = time.monotonic() - settings.RUN_STALE_AFTER_SECONDS

    def start(self) -> None:
        self.stop.clear()
        threading.Thread(target=self._loop, name="job-maintenance", daemon=True).start()

    def _loop(self) -> None:
        interval = float(settings.JOB_SWEEP_SECONDS)
        while not self.stop.wait(interval):
            try:
                self.once()
            except TRANSIENT_DB_ERRORS as error:
                connection.close()
                self.healthy_since = float("inf")
                logger.warning("Job maintenance could not reach the database (%s); trying again in %s s", error, interval)
            except Exception:  # the maintenance thread must outlive anything one round meets
                logger.exception("Job maintenance failed; trying again in %s s", interval)

    def once(self) -> None:
        from django.db import close_old_connections

        close_old_connections()
        # One cheap query first: it fails fast when the database is down.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if self.healthy_since == float("inf"):
            self.healthy_since = time.monotonic()
        if time.monotonic() - self.healthy_since >= settings.RUN_STALE_AFTER_SECONDS:
            reap_stale()
        sweep_queued()
