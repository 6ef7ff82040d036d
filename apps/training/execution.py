"""The machinery training and evaluation runs share while they execute.

Claiming a queued run under a row lock, writing progress without overwriting what others write to the
row (``cancel_requested``, log lines), the heartbeat thread, and recording how a run ended.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Concat, Right
from django.utils import timezone

from apps.common.choices import JobStatus
from apps.common.models import LOG_TAIL_CHARS, IllegalTransition, Job
from apps.training.models import EpochMetric, EvaluationRun, TrainingRun

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)

JobT = TypeVar("JobT", bound=Job)
ProgressCallback = Callable[[dict[str, Any]], None]
# Progress is written at most this often: enough for a live page, cheap for the database.
PROGRESS_WRITE_SECONDS = 1.0
# How often ``should_stop`` may re-read ``cancel_requested``; training checks it at every logging step.
CANCEL_CHECK_SECONDS = 0.5


def claim_queued(model: type[JobT], pk: int, *, worker: str | None) -> JobT | None:
    """Mark a queued run running, under a row lock; None if it is gone or no longer queued."""
    with transaction.atomic():
        job = model.objects.select_for_update().filter(pk=pk).first()
        if job is None or job.status != JobStatus.QUEUED:
            return None
        job.mark_running(worker=worker)
    return job


def request_cancel(model: type[JobT], pk: int, *, by: AbstractBaseUser | None) -> JobT:
    who = f" by {by}" if by is not None else ""
    with transaction.atomic():
        job = model.objects.select_for_update().get(pk=pk)
        if job.status == JobStatus.QUEUED:
            job.append_log(f"Cancelled{who} before it started.\n")
            job.mark_cancelled()
        elif job.status == JobStatus.RUNNING:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested", "updated_at"])
            append_log(model, pk, f"Cancellation requested{who}; the worker stops at its next step.\n")
        else:
            raise IllegalTransition(f"{job} has already {job.status}: there is nothing to cancel.")
    return job


def record_stop(model: type[Job], pk: int, error: BaseException, *, cancelled: bool) -> None:
    """Record why a running job ended without success: cancelled, or failed with the error and traceback."""
    with transaction.atomic():
        job = model.objects.select_for_update().get(pk=pk)
        if job.is_finished:
            return
        if cancelled:
            job.append_log("Cancelled.\n")
            job.mark_cancelled()
            return
        message = _error_message(error)
        job.append_log("".join(traceback.format_exception(error)))
        job.mark_failed(message)
    logger.error("%s failed: %s", job, message)


def _error_message(error: BaseException) -> str:
    if isinstance(error, Exception):
        return str(error) or type(error).__name__
    return f"The process running it was stopped ({type(error).__name__}) before the run finished."


def store_metrics(job: TrainingRun | EvaluationRun, metrics: dict[str, Any]) -> None:
    job.accuracy = metrics.get("accuracy")
    job.precision = metrics.get("precision")
    job.recall = metrics.get("recall")
    job.f1 = metrics.get("f1")
    job.f1_macro = metrics.get("f1_macro")
    job.confusion_matrix = metrics.get("confusion_matrix", [])
    job.metrics = metrics


def append_log(model: type[Job], pk: int, text: str) -> None:
    """Append to a job's log tail in the database itself, so concurrent writers never lose each other's lines."""
    model.objects.filter(pk=pk).update(log_tail=Right(Concat(F("log_tail"), Value(text)), LOG_TAIL_CHARS))


class ProgressWriter:
    """The progress callback: writes step, ETA and logs to the row (throttled) and epoch metrics as they come.

    It writes with ``queryset.update`` of its own columns only, so it never overwrites ``cancel_requested``.
    """

    def __init__(self, model: type[Job], pk: int, *, on_progress: ProgressCallback | None) -> None:
        self.model = model
        self.pk = pk
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
        if kind == "step" and self.model is TrainingRun:
            self.pending.update(
                current_step=int(event.get("step") or 0), total_steps=int(event.get("total_steps") or 0)
            )
            for field, key in (("eta_seconds", "eta_seconds"), ("train_samples_per_second", "samples_per_second")):
                if event.get(key) is not None:
                    self.pending[field] = float(event[key])
        elif kind == "step":
            # An evaluation counts reviews rather than optimiser steps.
            self.pending.update(processed=int(event.get("step") or 0), total=int(event.get("total_steps") or 0))
        elif kind == "epoch":
            self._record_epoch(event)
            self.flush()
            return
        elif kind == "log":
            text = str(event.get("text", ""))
            self.log.append(text if text.endswith("\n") else text + "\n")
        if time.monotonic() - self.last_write >= PROGRESS_WRITE_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not self.pending and not self.log:
            return
        values = {**self.pending, "heartbeat_at": timezone.now(), "updated_at": timezone.now()}
        if self.log:
            values["log_tail"] = Right(Concat(F("log_tail"), Value("".join(self.log))), LOG_TAIL_CHARS)
        self.model.objects.filter(pk=self.pk, status=JobStatus.RUNNING).update(**values)
        self.pending.clear()
        self.log.clear()
        self.last_write = time.monotonic()

    def should_stop(self, *, force: bool = False) -> bool:
        """True once someone asked to cancel the run (or the reaper gave up on it).

        Reads the database at most every CANCEL_CHECK_SECONDS, one indexed primary-key lookup.
        """
        if self.stop_requested:
            return True
        if force or time.monotonic() - self.last_cancel_check >= CANCEL_CHECK_SECONDS:
            self.last_cancel_check = time.monotonic()
            stop = Q(cancel_requested=True) | ~Q(status=JobStatus.RUNNING)
            self.stop_requested = self.model.objects.filter(stop, pk=self.pk).exists()
        return self.stop_requested

    def _record_epoch(self, event: dict[str, Any]) -> None:
        if self.model is not TrainingRun:
            return
        EpochMetric.objects.update_or_create(
            run_id=self.pk,
            epoch=int(round(float(event["epoch"]))),
            defaults={
                "step": int(event.get("step") or 0),
                "train_loss": event.get("train_loss"),
                "validation_loss": event.get("validation_loss"),
                "validation_accuracy": event.get("validation_accuracy"),
                "validation_f1": event.get("validation_f1"),
            },
        )
        if event.get("step") is not None:
            self.pending["current_step"] = int(event["step"])


@contextmanager
def heartbeat(model: type[Job], pk: int) -> Iterator[None]:
    """Touch ``heartbeat_at`` every RUN_HEARTBEAT_SECONDS from a daemon thread while the block runs.

    A thread rather than the progress callback: loading a model or predicting the test split can go
    for minutes without a progress event, and must not look like a dead worker. The thread dies with
    the process, which is exactly what the reaper looks for.
    """
    interval = float(settings.RUN_HEARTBEAT_SECONDS)
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    model.objects.filter(pk=pk, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())
                except Exception:  # a database hiccup must not end the heartbeat; the next beat retries
                    logger.exception("Heartbeat of %s %s failed", model.__name__, pk)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{model.__name__}-{pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 10)
