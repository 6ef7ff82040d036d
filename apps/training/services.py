"""Training and evaluation runs: check and queue them, cancel, retry (executing them is ``apps.training.runners``).

A run is a kind of job (``apps.common.jobs``; its kinds are in ``apps.training.jobs``, what it does on a
worker is in ``apps.training.runners``): queueing, claiming, heartbeat, progress, cancellation, the reaper
and the re-sending of lost messages are the job mechanism's, the same for every kind.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from apps.common.choices import JobStatus
from apps.common.models import IllegalTransition
from apps.reviews.models import DatasetSnapshot, ImportJob, Review
from apps.reviews.snapshots import snapshot_label_counts
from apps.training.choices import SNAPSHOT_SPLITS, EvaluationSplit
from apps.training.jobs import EvaluationJob, TrainingJob
from apps.training.models import EvaluationDataset, EvaluationRun, TrainingRun
from apps.training.selectors import import_labelled_reviews
from workers.ml.config import TrainConfig

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from apps.registry.models import ModelVersion

logger = logging.getLogger(__name__)
HYPERPARAMETERS = (
    "kind", "base_model", "learning_rate", "batch_size", "epochs", "weight_decay", "max_length",
    "truncation", "lowercase", "seed", "subset_size", "eval_subset_size", "early_stopping_patience", "warmup_ratio",
    "mlm_steps", "mlm_reviews", "tfidf_ngram_max", "tfidf_min_df", "tfidf_c", "tfidf_nb_weighting",
)  # fmt: skip
# PositiveIntegerField's range on every supported database.
MAX_STORED_INTEGER = 2_147_483_647


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
    assert max_name is not None  # base_model is a CharField with a max_length
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
    created_by: User | None = None,
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
    return TrainingJob.submit(
        enqueue=enqueue, snapshot=snapshot, created_by=created_by, notes=notes, **config.to_dict()
    )


def training_run_cancel(*, run: TrainingRun, by: User | None = None) -> TrainingRun:
    """Cancel a run: a queued one at once, a running one at the worker's next logging step.

    Raises ``IllegalTransition`` for a run that has already finished.
    """
    return TrainingJob.cancel(run.pk, by=by)


def training_run_retry(*, run: TrainingRun, by: User | None = None) -> TrainingRun:
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


# --- Evaluation runs -------------------------------------------------------------------------------------


def evaluation_run_errors(
    *,
    model_version: ModelVersion | None,
    snapshot: DatasetSnapshot | None,
    split: str,
    review_import: ImportJob | None = None,
    dataset: EvaluationDataset | None = None,
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
    elif split == EvaluationSplit.IMPORT:
        if review_import is None:
            errors["review_import"] = "Choose the import whose labelled reviews to evaluate on."
        elif review_import.status != JobStatus.SUCCEEDED:
            errors["review_import"] = f"Import {review_import.pk} is {review_import.status}: only a finished import has reviews."
        elif not import_labelled_reviews(review_import.pk).exists():
            errors["review_import"] = (
                f"Import {review_import.pk} ({review_import.source_name}) added no labelled reviews "
                "(reviews it found already present belong to the import that added them): choose another import."
            )
    elif split == EvaluationSplit.FILE:
        if dataset is None:
            errors["dataset"] = "Choose an uploaded evaluation file, or upload one (CSV or JSONL with text and label)."
    elif snapshot is None and (model_version is None or model_version.snapshot_id is None):
        if model_version is not None:
            errors["snapshot"] = (
                f"Model version {model_version.pk} records no snapshot: choose the snapshot to evaluate on."
            )
    else:
        if snapshot is not None:
            chosen = snapshot
        else:
            # the branch above took the cases without a model version or without its snapshot
            assert model_version is not None and model_version.snapshot is not None
            chosen = model_version.snapshot
        if sum(snapshot_label_counts(snapshot=chosen)[split].values()) == 0:
            errors["split"] = f"The {split} split of snapshot {chosen} is empty: choose another split or snapshot."
    if split != EvaluationSplit.IMPORT and review_import is not None:
        errors["review_import"] = "An import is evaluated with split 'import'; leave it out for other splits."
    if split != EvaluationSplit.FILE and dataset is not None:
        errors["dataset"] = "An uploaded file is evaluated with split 'file'; leave it out for other splits."
    return errors


def evaluation_run_create(
    *,
    model_version: ModelVersion,
    snapshot: DatasetSnapshot | None = None,
    split: str | None = None,
    review_import: ImportJob | None = None,
    dataset: EvaluationDataset | None = None,
    created_by: User | None = None,
    enqueue: bool = True,
) -> EvaluationRun:
    """Queue an evaluation of ``model_version``; the stable entry point for starting one (pages, API, automation).

    What it is evaluated on:

    - ``split`` "train", "validation" or "test" (the default): that split of ``snapshot``, or without a
      snapshot of the one the version was trained on (its test split is held out);
    - ``split="human"``: every review with a labelling resolution;
    - ``review_import=<ImportJob>`` (``split`` "import", implied): the labelled reviews that import added,
      with their gold label, else their resolved human label;
    - ``dataset=<EvaluationDataset>`` (``split`` "file", implied): an uploaded labelled file
      (``apps.training.evaluation_data.evaluation_dataset_create``).

    Raises ``RunConfigError`` with a message per bad field; nothing is written then. The worker stores
    metrics, the confusion matrix, every prediction and the slices (length quartiles, rating, source,
    origin split) on the run.
    """
    if split is None:
        split = EvaluationSplit.FILE if dataset is not None else EvaluationSplit.IMPORT if review_import is not None else EvaluationSplit.TEST
    errors = evaluation_run_errors(
        model_version=model_version, snapshot=snapshot, split=str(split), review_import=review_import, dataset=dataset
    )
    if errors:
        raise RunConfigError(errors)
    if split not in SNAPSHOT_SPLITS:
        snapshot = None
    elif snapshot is None:
        snapshot = model_version.snapshot
    return EvaluationJob.submit(
        enqueue=enqueue,
        model_version=model_version,
        snapshot=snapshot,
        split=split,
        review_import=review_import,
        dataset=dataset,
        created_by=created_by,
    )


def evaluation_run_cancel(*, evaluation: EvaluationRun, by: User | None = None) -> EvaluationRun:
    """Cancel an evaluation: a queued one at once, a running one before it records its results."""
    return EvaluationJob.cancel(evaluation.pk, by=by)
