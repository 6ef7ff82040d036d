"""Running a job on a worker: claim it, beat, write progress, ride out database errors, record how it ended.

The worker side of the job mechanism (``apps.common.jobs`` has the overview and the web side):

- **Claim** (``handle``): the worker moves the row from queued to running under a row lock, so a job
  runs once however many messages name it.
- **Heartbeat, progress, cancel**: a thread touches ``heartbeat_at``; ``ProgressWriter`` writes progress
  (throttled) and answers "should I stop?" from ``cancel_requested``.
- **Transient database errors** do not end a job: progress and heartbeats are kept and written when the
  database is back; only an outage longer than JOB_DB_OUTAGE_SECONDS stops it, with a message that names
  the database.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Concat, Right
from django.utils import timezone

from apps.common.choices import JobStatus
from apps.common.models import LOG_TAIL_CHARS, Job

logger = logging.getLogger(__name__)

JobT = TypeVar("JobT", bound=Job)
T = TypeVar("T")
ProgressCallback = Callable[[dict[str, Any]], None]

TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)
# Progress is written at most this often: enough for a live page, cheap for the database.
PROGRESS_WRITE_SECONDS = 1.0
# How often ``should_stop`` may re-read ``cancel_requested``; training checks it at every logging step.
CANCEL_CHECK_SECONDS = 0.5
OUTAGE_MESSAGE = (
    "The database was unreachable for more than {seconds} s (JOB_DB_OUTAGE_SECONDS) while this {what} ran "
    "({error}); it was stopped. Nothing it half-wrote was kept. Retry it once the database is back."
)


class JobCancelled(Exception):
    """Someone cancelled the job (or the reaper gave up on it) while it ran."""


class DatabaseOutage(Exception):
    """The database stayed unreachable for longer than JOB_DB_OUTAGE_SECONDS."""


class DatabaseGuard:
    """Runs database calls of a job through an outage: reconnects, and says how long it has lasted.

    ``call(..., wait=True)`` retries until the database answers (backing off up to 5 s) and raises
    ``DatabaseOutage`` once the outage is longer than JOB_DB_OUTAGE_SECONDS; ``wait=False`` tries once and
    returns ``default`` on a transient error, so progress and cancel checks never hold up the work.
    Inside an atomic block nothing can be retried (the transaction is gone with the connection): the
    error goes up to the caller, whose own retry wraps the whole block.
    """

    def __init__(self, what: str = "job", *, limit: float | None = None) -> None:
        self.what = what
        self.limit = float(settings.JOB_DB_OUTAGE_SECONDS) if limit is None else limit
        self.down_since: float | None = None

    def call(self, fn: Callable[[], T], *, wait: bool = True, default: Any = None) -> T:
        delay = 0.5
        while True:
            try:
                result = fn()
            except TRANSIENT_DB_ERRORS as error:
                if connection.in_atomic_block:
                    raise
                self._note(error)
                if not wait:
                    return default
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if self.down_since is not None:
                logger.warning(
                    "The database is back after %.0f s; the %s goes on.", time.monotonic() - self.down_since, self.what
                )
            self.down_since = None
            return result

    def _note(self, error: BaseException) -> None:
        connection.close()
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
            logger.warning("The database is unreachable (%s); the %s keeps going and retries.", error, self.what)
        if now - self.down_since > self.limit:
            raise DatabaseOutage(
                OUTAGE_MESSAGE.format(seconds=f"{self.limit:.0f}", what=self.what, error=_one_line(error))
            ) from error


class ProgressWriter:
    """The progress callback: writes a kind's progress columns and log lines to the row, throttled.

    Events are dicts: ``{"type": "step", ...}`` (the runner's ``step_values`` turns it into columns),
    ``{"type": "epoch", ...}`` (the runner's ``on_epoch``), ``{"type": "log", "text": ...}``. Writes go
    through ``queryset.update`` of these columns only, so they never overwrite ``cancel_requested``.
    While the database is down, the latest values are kept and written when it is back.
    """

    def __init__(self, runner: JobExecution[Any], *, on_progress: ProgressCallback | None) -> None:
        self.runner = runner
        self.model = runner.model
        self.pk = runner.job.pk
        self.on_progress = on_progress
        self.pending: dict[str, Any] = {}
        self.log: list[str] = []
        self.last_write = 0.0
        self.last_cancel_check = 0.0
        self.stop_requested = False

    def __call__(self, event: dict[str, Any]) -> None:
        if self.on_progress is not None:
            self.on_progress(event)
        kind = event.get("type")
        if kind == "step":
            self.pending.update(self.runner.step_values(event))
        elif kind == "epoch":
            self.runner.db.call(lambda: self.runner.on_epoch(event), wait=True)
            self.pending.update(self.runner.epoch_values(event))
            self.flush()
            return
        elif kind == "phase":
            self.pending.update(self.runner.phase_values(event))
        elif kind == "log":
            text = str(event.get("text", ""))
            self.log.append(text if text.endswith("\n") else text + "\n")
        if time.monotonic() - self.last_write >= PROGRESS_WRITE_SECONDS:
            self.flush()

    def log_line(self, text: str) -> None:
        self({"type": "log", "text": text})

    def flush(self) -> None:
        if not self.pending and not self.log:
            return
        values = {**self.pending, "heartbeat_at": timezone.now(), "updated_at": timezone.now()}
        if self.log:
            values["log_tail"] = Right(Concat(F("log_tail"), Value("".join(self.log))), LOG_TAIL_CHARS)
        written = self.runner.db.call(
            lambda: self.model.objects.filter(pk=self.pk, status=JobStatus.RUNNING).update(**values) or True,
            wait=False,
        )
        if written:
            self.pending.clear()
            self.log.clear()
        self.last_write = time.monotonic()

    def should_stop(self, *, force: bool = False) -> bool:
        """True once someone asked to cancel the job (or the reaper gave up on it).

        Reads the database at most every CANCEL_CHECK_SECONDS, one primary-key lookup; while the database
        is down the answer stays what it was.
        """
        if self.stop_requested:
            return True
        if force or time.monotonic() - self.last_cancel_check >= CANCEL_CHECK_SECONDS:
            self.last_cancel_check = time.monotonic()
            stop = Q(cancel_requested=True) | ~Q(status=JobStatus.RUNNING)
            self.stop_requested = bool(
                self.runner.db.call(lambda: self.model.objects.filter(stop, pk=self.pk).exists(), wait=force, default=False)
            )
        return self.stop_requested

    def check_cancelled(self, *, force: bool = False) -> None:
        """Raise ``JobCancelled`` once someone asked to cancel; ``force`` reads the row now (between chunks)."""
        if self.should_stop(force=force):
            raise JobCancelled


@contextmanager
def heartbeat(model: type[Job], pk: int, *, also: Callable[[], Any] | None = None) -> Iterator[None]:
    """Touch ``heartbeat_at`` every RUN_HEARTBEAT_SECONDS from a daemon thread while the block runs.

    A thread rather than the progress callback: loading a model or predicting a test split can go for
    minutes without a progress event, and must not look like a dead worker. The thread dies with the
    process, which is exactly what the reaper looks for. A failed beat closes the thread's connection,
    so the next one reconnects once the database is back. ``also`` runs at each beat too (a kind's own
    liveness marks, such as the batch chunk a process holds).
    """
    interval = float(settings.RUN_HEARTBEAT_SECONDS)
    stop = threading.Event()

    def beat() -> None:
        failing = False
        try:
            while not stop.wait(interval):
                try:
                    model.objects.filter(pk=pk, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())
                    if also is not None:
                        also()
                    failing = False
                except Exception as error:  # a database hiccup must not end the heartbeat; the next beat retries
                    connection.close()
                    if not failing:
                        logger.warning("Heartbeat of %s %s failed (%s); retrying.", model.__name__, pk, error)
                    failing = True
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{model.__name__}-{pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 10)


class JobExecution(Generic[JobT]):
    """What a kind of job is on a worker: the hooks it writes (``run`` first) and ``handle``, which runs it.

    ``apps.common.jobs.JobRunner``, the class every kind subclasses, adds how a job is submitted, sent
    and cancelled. Optional hooks: ``step_values`` / ``epoch_values`` / ``on_epoch`` (how progress events
    become columns), ``record_success`` (what is stored with the success, in the same transaction, the
    row locked), ``discard`` / ``discard_for`` (remove what a job that did not succeed half-wrote),
    ``stale_advice`` (a hint in the reaper's message).
    """

    model: ClassVar[type[Job]]
    what: ClassVar[str] = "job"
    # Run in a process of its own on workers (``apps.common.child``); the kind then also writes
    # ``child_state`` (child side) and ``adopt_child_state`` (worker side).
    child_process: ClassVar[bool] = False
    # May be launched with torchrun across TRAIN_PROCESSES processes.
    distributed: ClassVar[bool] = False

    def __init__(self, job: JobT, *, on_progress: ProgressCallback | None = None, **options: Any) -> None:
        self.job = job
        # What an in-process caller passes to its kind (``handle(pk, source=...)``); workers pass none.
        self.options = options
        self.db = DatabaseGuard(self.what)
        self.progress = ProgressWriter(self, on_progress=on_progress)

    # --- What a kind writes --------------------------------------------------------------------------

    def run(self) -> None:
        raise NotImplementedError

    def step_values(self, event: dict[str, Any]) -> dict[str, Any]:
        return {"processed": int(event.get("step") or 0), "total": int(event.get("total_steps") or 0)}

    def epoch_values(self, event: dict[str, Any]) -> dict[str, Any]:
        return {}

    def phase_values(self, event: dict[str, Any]) -> dict[str, Any]:
        """Columns for a ``phase`` event (scoring a split); kinds without such columns ignore it."""
        return {}

    def on_epoch(self, event: dict[str, Any]) -> None:
        return None

    def record_success(self, job: JobT) -> None:
        return None

    def beat(self) -> None:
        """Run at each heartbeat besides touching the job's row (a kind's own liveness marks)."""
        return None

    def is_complete(self) -> bool:
        """False when others still work on the job after ``run`` returned here (the last of them records it)."""
        return True

    def child_state(self) -> dict[str, Any]:
        """What ``record_success`` needs from the work done in a child process, as JSON-able values."""
        return {}

    def adopt_child_state(self, state: dict[str, Any]) -> None:
        return None

    def discard(self) -> None:
        type(self).discard_for(self.job.pk)

    @classmethod
    def discard_for(cls, pk: int) -> None:
        return None

    @classmethod
    def stale_advice(cls) -> str:
        return ""

    @classmethod
    def failure_message(cls, error: BaseException) -> str:
        """The one line a failed job shows (its traceback goes to the log tail)."""
        if isinstance(error, Exception):
            return str(error) or type(error).__name__
        return f"The process running it was stopped ({type(error).__name__}) before it finished."

    # --- Executing -------------------------------------------------------------------------------------

    @classmethod
    def handle(
        cls,
        pk: int,
        *,
        worker: str | None = None,
        on_progress: ProgressCallback | None = None,
        in_child: bool = False,
        **options: Any,
    ) -> JobT | None:
        """Claim queued job ``pk``, run it with heartbeat and progress, and record how it ended.

        Returns None when the job was not queued (a duplicate message, a cancelled job). Never raises for
        a failed job: the failure is on the row. Re-raises only what is not an ``Exception`` (the process
        being told to stop), after recording it. ``in_child`` (workers) runs a ``child_process`` kind's
        work in a process of its own.
        """
        guard = DatabaseGuard(cls.what)
        job = guard.call(lambda: cls._claim(pk, worker=worker))
        if job is None:
            return None
        runner = cls(job, on_progress=on_progress, **options)
        runner.db = guard
        try:
            with heartbeat(cls.model, pk, also=runner.beat):
                if in_child and cls.child_process:
                    from apps.common.child import run_in_child

                    runner.adopt_child_state(run_in_child(runner))
                else:
                    runner.run()
                runner.progress.flush()
                if runner.progress.should_stop(force=True):
                    raise JobCancelled
                if not runner.is_complete():
                    return job
                return guard.call(runner._succeed)
        except BaseException as error:
            runner._stopped(error)
            if not isinstance(error, Exception):
                raise
            return cls.model.objects.get(pk=pk)  # type: ignore[return-value]

    @classmethod
    def _claim(cls, pk: int, *, worker: str | None) -> JobT | None:
        with transaction.atomic():
            job = cls.model.objects.select_for_update().filter(pk=pk).first()
            if job is None or job.status != JobStatus.QUEUED:
                status = job.status if job is not None else "gone"
                logger.info("%s %s is %s, not queued: nothing to do.", cls.model.__name__, pk, status)
                return None
            job.mark_running(worker=worker)
        return job  # type: ignore[return-value]

    def _succeed(self) -> JobT:
        with transaction.atomic():
            job = self.model.objects.select_for_update().get(pk=self.job.pk)
            if job.status == JobStatus.SUCCEEDED:
                return job  # type: ignore[return-value]  # another worker sharing the job recorded it first
            if job.status != JobStatus.RUNNING:
                # Reaped or cancelled while the last steps ran: its outcome is already recorded.
                logger.warning("%s finished its work but is %s; what it made is discarded.", job, job.status)
                self.discard()
                return job  # type: ignore[return-value]
            try:
                self.record_success(job)  # type: ignore[arg-type]
                job.mark_succeeded()
            except TRANSIENT_DB_ERRORS:
                raise  # the caller's guard tries the whole transaction again
            except BaseException:
                self.discard()
                raise
        return job  # type: ignore[return-value]

    def _stopped(self, error: BaseException) -> None:
        """Record why a running job ended without success: cancelled, or failed with the error and traceback.

        Waits for the database as long as it takes (the job cannot end otherwise); the reaper of another
        worker covers a process that dies meanwhile.
        """
        self.discard()
        cancelled = self.progress.stop_requested or isinstance(error, (JobCancelled, KeyboardInterrupt))
        patient = DatabaseGuard(self.what, limit=float("inf"))
        patient.call(self.progress.flush)
        patient.call(lambda: self._record_stop(error, cancelled=cancelled))

    def _record_stop(self, error: BaseException, *, cancelled: bool) -> None:
        with transaction.atomic():
            job = self.model.objects.select_for_update().get(pk=self.job.pk)
            if job.is_finished:
                return
            if cancelled and not isinstance(error, DatabaseOutage):
                job.append_log("Cancelled.\n")
                job.mark_cancelled()
                return
            message = self.failure_message(error)
            job.append_log("".join(traceback.format_exception(error))[-4000:])
            job.mark_failed(message)
        logger.error("%s failed: %s", job, message)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
