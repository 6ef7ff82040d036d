"""One mechanism for every kind of background job: imports, training runs, evaluation runs, batch predictions.

A kind declares itself by subclassing ``JobRunner`` (the shape of NetBox's ``JobRunner``): it names its
model (a ``Job``), its Celery task and its queue, and writes ``run()``; the base class owns the rest, so
a new kind gets every guarantee below by declaring itself.

This module declares a kind and does what the web side does with one: submit, send, cancel. Running a
job on a worker (claim, heartbeat, progress, database errors) is ``apps.common.execution``; what every
worker does in the background (sweep, reap) is ``apps.common.maintenance``.

- **Submit** (``submit``): the broker is checked before anything is written, so a caller told "broker
  unavailable" has left nothing behind; the row is the intent (an outbox), and its message is sent when
  the transaction commits. ``dispatched_at`` records the send.
- **Sweep** (``sweep_queued``, every worker): a queued job whose message was never sent (the broker went
  down between commit and send) or has vanished from the broker (a broker restarted empty) is sent again.
  A message is only ever "look at job N": duplicates are harmless because ...
- **Claim** (``handle``): ... the worker moves the row from queued to running under a row lock, so a job
  runs once however many messages name it.
- **Heartbeat, progress, cancel**: a thread touches ``heartbeat_at``; ``ProgressWriter`` writes progress
  (throttled) and answers "should I stop?" from ``cancel_requested``.
- **Transient database errors** do not end a job: progress and heartbeats are kept and written when the
  database is back; only an outage longer than JOB_DB_OUTAGE_SECONDS stops it, with a message that names
  the database.
- **Reap** (``reap_stale``, every worker): a running job whose heartbeat stopped is failed, and the kind
  removes what it half-wrote (``discard_for``). Nothing is retried automatically: a job that killed its
  worker would kill the next one.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Right
from django.utils import timezone

from apps.common import broker
from apps.common.choices import JobStatus

# DatabaseOutage, JobCancelled, ProgressCallback and heartbeat are imported from here by the kinds' modules.
from apps.common.execution import DatabaseOutage as DatabaseOutage
from apps.common.execution import JobCancelled as JobCancelled
from apps.common.execution import JobExecution, JobT
from apps.common.execution import ProgressCallback as ProgressCallback
from apps.common.execution import heartbeat as heartbeat
from apps.common.models import LOG_TAIL_CHARS, IllegalTransition, Job

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)


class JobRunner(JobExecution[JobT]):
    """The base of every kind of background job. A kind sets ``model``, ``task_name``, ``what`` and writes ``run``.

    Besides the hooks of ``JobExecution`` (what runs on a worker), a kind may write ``queue_for`` (the
    Celery queue of a job).
    """

    task_name: ClassVar[str]
    kinds: ClassVar[dict[str, type[JobRunner[Any]]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "model" in cls.__dict__:
            JobRunner.kinds[cls.model._meta.label] = cls

    @classmethod
    def queue_for(cls, job: JobT) -> str:
        return "default"

    # --- Submitting ------------------------------------------------------------------------------------

    @classmethod
    def submit(cls, *, enqueue: bool = True, **fields: Any) -> JobT:
        """Create a queued job and send it to a worker when the transaction commits.

        Raises ``broker.BrokerUnavailable`` before writing anything when the broker is down.
        ``enqueue=False`` leaves the job for the caller to run in this process with ``handle``.
        """
        if enqueue:
            broker.ensure_broker()
        with transaction.atomic():
            job = cls.model.objects.create(celery_task_id=str(uuid.uuid4()) if enqueue else "", **fields)
            if enqueue:
                cls.enqueue(job)  # type: ignore[arg-type]
        return job  # type: ignore[return-value]

    @classmethod
    def enqueue(cls, job: JobT) -> None:
        """Send ``job``'s message once the transaction that wrote it commits (the sweeper covers a failed send)."""
        pk = job.pk
        transaction.on_commit(lambda: cls.dispatch(pk))

    @classmethod
    def dispatch(cls, pk: int) -> bool:
        """Send the message of queued job ``pk`` and record when; False (logged) when the broker is down."""
        job = cls.model.objects.filter(pk=pk, status=JobStatus.QUEUED).exclude(celery_task_id="").first()
        if job is None:
            return False
        try:
            broker.send(cls.task_name, job_id=pk, queue=cls.queue_for(job), task_id=job.celery_task_id)  # type: ignore[arg-type]
        except broker.transient_broker_errors() as error:
            logger.warning("Could not send %s %s to the broker (%s); a worker's sweeper will send it.", cls.what, pk, error)
            return False
        cls.model.objects.filter(pk=pk).update(dispatched_at=timezone.now())
        return True

    # --- Cancelling ------------------------------------------------------------------------------------

    @classmethod
    def cancel(cls, pk: int, *, by: AbstractBaseUser | None = None) -> JobT:
        """Cancel a job: a queued one at once, a running one at its next check. ``IllegalTransition`` if it ended."""
        who = f" by {by}" if by is not None else ""
        with transaction.atomic():
            job = cls.model.objects.select_for_update().get(pk=pk)
            if job.status == JobStatus.QUEUED:
                job.append_log(f"Cancelled{who} before it started.\n")
                job.mark_cancelled()
            elif job.status == JobStatus.RUNNING:
                job.cancel_requested = True
                job.save(update_fields=["cancel_requested", "updated_at"])
                append_log(cls.model, pk, f"Cancellation requested{who}; the worker stops at its next step.\n")
            else:
                raise IllegalTransition(f"{job} has already {job.status}: there is nothing to cancel.")
        return job  # type: ignore[return-value]


def append_log(model: type[Job], pk: int, text: str) -> None:
    """Append to a job's log tail in the database itself, so concurrent writers never lose each other's lines."""
    model.objects.filter(pk=pk).update(log_tail=Right(Concat(F("log_tail"), Value(text)), LOG_TAIL_CHARS))


def job_kind(model: type[Job]) -> type[JobRunner[Any]]:
    return JobRunner.kinds[model._meta.label]
