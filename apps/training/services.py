"""Training and evaluation runs: create and queue them, execute them on a worker, cancel, retry, reap.

A run is a state machine (``apps.common.models.Job``). The web side creates a queued row and sends
the task when the transaction commits; the worker claims the row under a lock (so a redelivered
message never starts a run twice), trains with a progress callback that writes to the row, and
records the outcome. Artifacts are written to a staging folder and moved into
``ARTIFACT_ROOT/<run id>-<short uuid>`` only when the run succeeds, so no half-written model folder
is ever left behind. While a run executes, a heartbeat thread touches ``heartbeat_at``; every worker
reaps runs whose heartbeat stopped (``training_run_reap_stale``).
"""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.common.choices import JobStatus
from apps.common.models import IllegalTransition
from apps.registry.models import ModelVersion
from apps.registry.services import model_version_artifact_dir, model_version_auto_promote, model_version_register
from apps.reviews.models import DatasetSnapshot, Review
from apps.reviews.snapshots import snapshot_examples, snapshot_label_counts
from apps.training.choices import EvaluationSplit, ModelKind
from apps.training.execution import (
    ProgressCallback,
    ProgressWriter,
    claim_queued,
    heartbeat,
    record_stop,
    request_cancel,
    store_metrics,
)
from apps.training.models import EvaluationRun, RunPrediction, TrainingRun
from workers.ml.config import TrainConfig

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from workers.ml.data import Example, SplitData

logger = logging.getLogger(__name__)

# Transformers train on GPU workers; the TF-IDF baseline is light work for any worker.
QUEUE_BY_KIND = {ModelKind.TRANSFORMER.value: "gpu", ModelKind.TFIDF.value: "default"}
HYPERPARAMETERS = (
    "kind", "base_model", "learning_rate", "batch_size", "epochs", "weight_decay", "max_length",
    "truncation", "lowercase", "seed", "subset_size", "early_stopping_patience", "warmup_ratio",
)  # fmt: skip
PREDICTION_BATCH_SIZE = 2_000
# PositiveIntegerField's range on every supported database.
MAX_STORED_INTEGER = 2_147_483_647
STALE_MESSAGE = (
    "The worker stopped sending heartbeats (killed or out of memory?): the last one came at {last} from "
    "{worker}, more than {seconds} s ago. The run was marked failed; retry it (a new run with the same "
    "configuration) once the worker is healthy, with a smaller batch size or max length if it ran out of memory."
)


class RunConfigError(ValueError):
    """A run cannot be created as asked; ``errors`` holds one message per field that was wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(f"{field}: {message}" for field, message in self.errors.items()))


# --- Training runs: create, cancel, retry ---------------------------------------------------------------


def training_run_errors(*, snapshot: DatasetSnapshot | None, **hyperparameters: Any) -> dict[str, str]:
    """One message per bad field of a would-be training run (empty when it can be created)."""
    unknown = sorted(set(hyperparameters) - set(HYPERPARAMETERS))
    errors = {
        name: f"Unknown training setting {name!r}; known settings: {', '.join(HYPERPARAMETERS)}." for name in unknown
    }
    config = TrainConfig(**{name: value for name, value in hyperparameters.items() if name in HYPERPARAMETERS})
    errors.update(config.errors())
    if "seed" not in errors and config.seed > MAX_STORED_INTEGER:
        errors["seed"] = f"Seed must be between 0 and {MAX_STORED_INTEGER} (got {config.seed})."
    max_name = TrainingRun._meta.get_field("base_model").max_length
    if "base_model" not in errors and len(config.base_model) > max_name:
        errors["base_model"] = f"Base model must be at most {max_name} characters (a hub id or a folder path)."
    if snapshot is None:
        errors["snapshot"] = "Choose the dataset snapshot to train on (create one from the labelled reviews first)."
        return errors
    counts = snapshot_label_counts(snapshot=snapshot)
    train = counts["train"]
    train_total = sum(train.values())
    if train_total == 0:
        errors["snapshot"] = f"Snapshot {snapshot} has no training reviews: choose a snapshot with a training split."
    elif any(count == 0 for count in train.values()):
        missing = "positive" if train.get(1, 0) == 0 else "negative"
        errors["snapshot"] = (
            f"The training split of snapshot {snapshot} has no {missing} reviews; a classifier needs both labels. "
            "Label or import more reviews and take a new snapshot."
        )
    elif sum(counts["validation"].values()) == 0:
        errors["snapshot"] = f"Snapshot {snapshot} has no validation reviews, which training evaluates at each epoch."
    elif sum(counts["test"].values()) == 0:
        errors["snapshot"] = f"Snapshot {snapshot} has no test reviews to measure the model on."
    if (
        "subset_size" not in errors
        and config.subset_size is not None
        and train_total
        and config.subset_size > train_total
    ):
        errors["subset_size"] = (
            f"Subset size {config.subset_size} is larger than the {train_total} training reviews of the snapshot; "
            "leave it empty to train on all of them."
        )
    return errors


def training_run_create(
    *,
    snapshot: DatasetSnapshot,
    created_by: AbstractBaseUser | None = None,
    notes: str = "",
    enqueue: bool = True,
    **hyperparameters: Any,
) -> TrainingRun:
    """Create a queued training run and send it to a worker when the transaction commits.

    ``hyperparameters`` are ``TrainConfig``'s fields; missing ones take its defaults. ``base_model`` is a
    Hugging Face hub id or a local folder holding a model and tokenizer saved with ``save_pretrained``.
    Raises ``RunConfigError`` with a message per bad field. ``enqueue=False`` leaves the run for the
    caller to execute in-process (``manage.py train --now``).
    """
    errors = training_run_errors(snapshot=snapshot, **hyperparameters)
    if errors:
        raise RunConfigError(errors)
    config = TrainConfig(**hyperparameters)
    run = TrainingRun.objects.create(
        snapshot=snapshot,
        created_by=created_by,
        notes=notes,
        celery_task_id=str(uuid.uuid4()) if enqueue else "",
        **config.to_dict(),
    )
    if enqueue:
        _enqueue("training", run.pk, queue=QUEUE_BY_KIND[run.kind], task_id=run.celery_task_id)
    return run


def training_run_cancel(*, run: TrainingRun, by: AbstractBaseUser | None = None) -> TrainingRun:
    """Cancel a run: a queued one at once, a running one at the worker's next logging step.

    Raises ``IllegalTransition`` for a run that has already finished.
    """
    return request_cancel(TrainingRun, run.pk, by=by)


def training_run_retry(*, run: TrainingRun, by: AbstractBaseUser | None = None) -> TrainingRun:
    """Queue a new run with the same snapshot and configuration as ``run``, which must have finished."""
    if not run.is_finished:
        raise IllegalTransition(
            f"Run {run.pk} is still {run.status}; wait for it to finish (or cancel it) before retrying it."
        )
    return training_run_create(
        snapshot=run.snapshot,
        created_by=by or run.created_by,
        notes=f"Retry of run {run.pk}." + (f"\n{run.notes}" if run.notes else ""),
        **training_config_of(run).to_dict(),
    )


def training_config_of(run: TrainingRun) -> TrainConfig:
    return TrainConfig(**{name: getattr(run, name) for name in HYPERPARAMETERS})


# --- Training runs: execution (on a worker, or in-process with ``manage.py train --now``) ---------------


def training_run_execute(
    *, run_id: int, worker: str | None = None, on_progress: ProgressCallback | None = None
) -> TrainingRun | None:
    """Train the queued run ``run_id`` and record the outcome; returns None if the run was not queued.

    ``on_progress`` also receives every progress event (the command line draws its progress bar with it).
    Never raises for a failed run: the failure is recorded on the row. Re-raises only what is not an
    ``Exception`` (the process being told to stop), after recording it.
    """
    run = claim_queued(TrainingRun, run_id, worker=worker)
    if run is None:
        return None
    staging = _staging_dir(run.pk)
    progress = ProgressWriter(TrainingRun, run.pk, on_progress=on_progress)
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with heartbeat(TrainingRun, run.pk):
            from workers.ml import train

            TrainingRun.objects.filter(pk=run.pk).update(device=_device_for(run.kind))
            result = train(
                training_config_of(run),
                _split_data(run.snapshot_id),
                # Inside the run's staging folder, so the trainer's own temporary files go when it goes.
                staging / "model",
                progress=progress,
                should_stop=progress.should_stop,
                lineage=_lineage(run),
            )
        progress.flush()
        return _training_succeeded(run.pk, result, staging)
    except BaseException as error:
        # The disk is clean before the row says the run has ended.
        shutil.rmtree(staging, ignore_errors=True)
        progress.flush()
        record_stop(
            TrainingRun, run.pk, error, cancelled=progress.stop_requested or isinstance(error, KeyboardInterrupt)
        )
        if not isinstance(error, Exception):
            raise
        return TrainingRun.objects.get(pk=run.pk)


def _training_succeeded(run_id: int, result: Any, staging: Path) -> TrainingRun:
    """Move the artifacts into place and record metrics, predictions and the model version atomically."""
    final = Path(settings.ARTIFACT_ROOT) / f"{run_id}-{uuid.uuid4().hex[:8]}"
    shutil.move(str(result.artifact_dir), final)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with transaction.atomic():
            run = TrainingRun.objects.select_for_update().get(pk=run_id)
            if run.status != JobStatus.RUNNING:
                # Reaped (or otherwise ended) while the last steps ran: its outcome is already recorded.
                logger.warning("Run %s finished training but is %s; its artifacts are discarded.", run_id, run.status)
                shutil.rmtree(final, ignore_errors=True)
                return run
            store_metrics(run, result.metrics)
            run.device = result.device or run.device
            run.train_samples_per_second = result.train_samples_per_second
            run.current_step = max(run.current_step, run.total_steps)
            run.eta_seconds = 0
            RunPrediction.objects.bulk_create(
                (
                    RunPrediction(
                        training_run=run,
                        review_id=review_id,
                        gold_label=gold,
                        predicted_label=predicted,
                        confidence=confidence,
                    )
                    for review_id, gold, predicted, confidence in result.test_predictions
                ),
                batch_size=PREDICTION_BATCH_SIZE,
            )
            version = model_version_register(run=run, result=replace(result, artifact_dir=final))
            model_version_auto_promote(version=version)
            run.append_log(
                f"Succeeded in {result.wall_seconds:.0f} s on {run.device}: test accuracy {run.accuracy:.4f}, "
                f"F1 {run.f1:.4f}. Registered model version {version.pk} at {final}.\n"
            )
            run.mark_succeeded()
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise
    return run


def _split_data(snapshot_id: int) -> SplitData:
    from workers.ml.data import SplitData

    return SplitData(
        train=_examples(snapshot_examples(snapshot=snapshot_id, split="train")),
        validation=_examples(snapshot_examples(snapshot=snapshot_id, split="validation")),
        test=_examples(snapshot_examples(snapshot=snapshot_id, split="test")),
    )


def _examples(rows: list[tuple[int, str, int]]) -> list[Example]:
    from workers.ml.data import Example

    return [Example(review_id=review_id, text=text, label=label) for review_id, text, label in rows]


def _lineage(run: TrainingRun) -> dict[str, Any]:
    snapshot = run.snapshot
    return {
        "training_run_id": run.pk,
        "snapshot_id": snapshot.pk,
        "snapshot_name": snapshot.name,
        "snapshot_content_hash": snapshot.content_hash,
        "snapshot_label_source": snapshot.label_source,
        "snapshot_seed": snapshot.seed,
        "split_sizes": {
            "train": snapshot.train_count,
            "validation": snapshot.validation_count,
            "test": snapshot.test_count,
        },
    }


def _device_for(kind: str) -> str:
    """The device a run will use, for the run page while it goes (the result reports the one it used)."""
    if kind == ModelKind.TFIDF:
        return "cpu"
    from workers.ml.transformer import describe_device

    return describe_device()[0]


def _staging_dir(run_id: int) -> Path:
    """Where a run writes until it succeeds; named by run id so the reaper can remove what a dead worker left."""
    return Path(settings.ARTIFACT_ROOT) / ".incomplete" / f"run-{run_id}"


# --- Evaluation runs -------------------------------------------------------------------------------------


def evaluation_run_errors(
    *, model_version: ModelVersion | None, snapshot: DatasetSnapshot | None, split: str
) -> dict[str, str]:
    """One message per bad field of a would-be evaluation run (empty when it can be created)."""
    errors: dict[str, str] = {}
    if model_version is None:
        errors["model_version"] = "Choose the model version to evaluate."
    if split not in EvaluationSplit.values:
        errors["split"] = f"Unknown split {split!r}: choose one of {', '.join(EvaluationSplit.values)}."
    elif split == EvaluationSplit.HUMAN:
        if not Review.objects.filter(resolution__isnull=False).exists():
            errors["split"] = "No review has a resolved human label yet: label some in a labelling queue first."
    elif snapshot is None and (model_version is None or model_version.snapshot_id is None):
        if model_version is not None:
            errors["snapshot"] = (
                f"Model version {model_version.pk} records no snapshot: choose the snapshot to evaluate on."
            )
    else:
        chosen = snapshot or model_version.snapshot  # type: ignore[union-attr]
        if sum(snapshot_label_counts(snapshot=chosen)[split].values()) == 0:
            errors["split"] = f"The {split} split of snapshot {chosen} is empty: choose another split or snapshot."
    return errors


def evaluation_run_create(
    *,
    model_version: ModelVersion,
    snapshot: DatasetSnapshot | None = None,
    split: str = EvaluationSplit.TEST,
    created_by: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> EvaluationRun:
    """Queue an evaluation of ``model_version`` on a split of ``snapshot`` or on the human-labelled reviews.

    Without a snapshot, a snapshot split means the one the version was trained on (its test split is
    held out). ``split="human"`` evaluates on every review with a labelling resolution.
    """
    errors = evaluation_run_errors(model_version=model_version, snapshot=snapshot, split=str(split))
    if errors:
        raise RunConfigError(errors)
    if split == EvaluationSplit.HUMAN:
        snapshot = None
    elif snapshot is None:
        snapshot = model_version.snapshot
    evaluation = EvaluationRun.objects.create(
        model_version=model_version,
        snapshot=snapshot,
        split=split,
        created_by=created_by,
        celery_task_id=str(uuid.uuid4()) if enqueue else "",
    )
    if enqueue:
        queue = QUEUE_BY_KIND.get(model_version.kind, "default")
        _enqueue("evaluation", evaluation.pk, queue=queue, task_id=evaluation.celery_task_id)
    return evaluation


def evaluation_run_cancel(*, evaluation: EvaluationRun, by: AbstractBaseUser | None = None) -> EvaluationRun:
    """Cancel an evaluation: a queued one at once, a running one before it records its results."""
    return request_cancel(EvaluationRun, evaluation.pk, by=by)


def evaluation_run_execute(
    *, run_id: int, worker: str | None = None, on_progress: ProgressCallback | None = None
) -> EvaluationRun | None:
    """Evaluate the queued evaluation ``run_id`` and record metrics and predictions; None if not queued.

    A cancellation stops it after the chunk of reviews being predicted; nothing of it is recorded.
    """
    evaluation = claim_queued(EvaluationRun, run_id, worker=worker)
    if evaluation is None:
        return None
    progress = ProgressWriter(EvaluationRun, evaluation.pk, on_progress=on_progress)

    def on_chunk(event: dict[str, Any]) -> None:
        progress(event)
        if progress.should_stop():
            raise _EvaluationCancelled

    try:
        with heartbeat(EvaluationRun, evaluation.pk):
            from workers.ml.predictor import evaluate

            version = evaluation.model_version
            EvaluationRun.objects.filter(pk=evaluation.pk).update(device=_device_for(version.kind))
            examples = _evaluation_examples(evaluation)
            EvaluationRun.objects.filter(pk=evaluation.pk).update(total=len(examples))
            progress({"type": "log", "text": f"Evaluating model version {version.pk} on {len(examples)} reviews."})
            metrics, predictions = evaluate(model_version_artifact_dir(version=version), examples, progress=on_chunk)
        progress.flush()
        if progress.should_stop(force=True):
            raise _EvaluationCancelled
        return _evaluation_succeeded(evaluation.pk, metrics, predictions)
    except BaseException as error:
        progress.flush()
        cancelled = isinstance(error, (_EvaluationCancelled, KeyboardInterrupt))
        record_stop(EvaluationRun, evaluation.pk, error, cancelled=cancelled)
        if not isinstance(error, Exception):
            raise
        return EvaluationRun.objects.get(pk=evaluation.pk)


class _EvaluationCancelled(Exception):
    """Someone cancelled an evaluation while it ran."""


def _evaluation_examples(evaluation: EvaluationRun) -> list[Example]:
    if evaluation.split == EvaluationSplit.HUMAN:
        rows = (
            Review.objects.filter(resolution__isnull=False)
            .order_by("id")
            .values_list("id", "text", "resolution__label")
        )
        return _examples(list(rows))
    return _examples(snapshot_examples(snapshot=evaluation.snapshot_id, split=evaluation.split))


def _evaluation_succeeded(run_id: int, metrics: dict[str, Any], predictions: list[Any]) -> EvaluationRun:
    with transaction.atomic():
        evaluation = EvaluationRun.objects.select_for_update().get(pk=run_id)
        if evaluation.status != JobStatus.RUNNING:
            return evaluation
        store_metrics(evaluation, metrics)
        evaluation.processed = len(predictions)
        RunPrediction.objects.bulk_create(
            (
                RunPrediction(
                    evaluation_run=evaluation,
                    review_id=review_id,
                    gold_label=gold,
                    predicted_label=predicted,
                    confidence=confidence,
                )
                for review_id, gold, predicted, confidence in predictions
            ),
            batch_size=PREDICTION_BATCH_SIZE,
        )
        evaluation.append_log(
            f"Succeeded: accuracy {evaluation.accuracy:.4f}, F1 {evaluation.f1:.4f} on {len(predictions)} reviews.\n"
        )
        evaluation.mark_succeeded()
    return evaluation


# --- Workers that died -----------------------------------------------------------------------------------


def training_run_reap_stale(*, now: datetime | None = None) -> int:
    """Mark failed every running training run, evaluation or batch prediction job whose heartbeat is
    older than RUN_STALE_AFTER_SECONDS.

    Returns how many were marked. No run is retried automatically: a run that killed its worker (out
    of memory, say) would only kill the next one; retrying is the admin's choice.
    """
    seconds = settings.RUN_STALE_AFTER_SECONDS
    cutoff = (now or timezone.now()) - timedelta(seconds=seconds)
    stale = Q(status=JobStatus.RUNNING) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    # Imported here: batch jobs build on this app's execution helpers.
    from apps.predictions.models import BatchPredictionJob

    reaped = 0
    for model in (TrainingRun, EvaluationRun, BatchPredictionJob):
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
                )
                if model is TrainingRun:
                    # What the dead worker half-wrote goes before the row says the run has ended.
                    shutil.rmtree(_staging_dir(pk), ignore_errors=True)
                job.append_log(message + "\n")
                job.mark_failed(message)
            reaped += 1
            logger.warning("Marked %s failed: no heartbeat since %s.", job, last)
    return reaped


def _enqueue(what: str, run_id: int, *, queue: str, task_id: str) -> None:
    # Imported here: the task module imports this one.
    from workers.tasks.training import run_evaluation, run_training

    task = run_training if what == "training" else run_evaluation
    transaction.on_commit(lambda: task.apply_async(args=[run_id], queue=queue, task_id=task_id))
