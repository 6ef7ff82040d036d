"""Training and evaluation runs as kinds of job (``apps.common.jobs.JobRunner``): what each does on a worker.

Training writes its artifacts to a staging folder and publishes them as ``<run id>-<short uuid>`` in the
artifact storage (a rename into ARTIFACT_ROOT, or an upload with the manifest last to object storage) only
when the run succeeds, in the transaction that registers the model version, so no half-written model is
ever served (the reaper removes a dead worker's staging folder).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import uuid
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from apps.common.jobs import JobCancelled, ProgressCallback
from apps.registry.services import (
    artifacts_discard,
    artifacts_publish,
    model_version_artifact_dir,
    model_version_auto_promote,
    model_version_register,
)
from apps.reviews.models import Review, SnapshotItem
from apps.reviews.snapshots import snapshot_examples
from apps.training.choices import EvaluationSplit, ModelKind
from apps.training.jobs import EvaluationJob, TrainingJob, staging_dir
from apps.training.models import (
    EpochMetric,
    EvaluationDatasetItem,
    EvaluationRun,
    MetricsMixin,
    RunPrediction,
    TrainingRun,
)
from apps.training.selectors import import_labelled_reviews

if TYPE_CHECKING:
    from workers.ml.config import TrainConfig
    from workers.ml.data import Example, SplitData

logger = logging.getLogger(__name__)

PREDICTION_BATCH_SIZE = 2_000
# Review ids per query when reading the ratings, sources and origin splits the slices need.
FACET_BATCH_SIZE = 10_000


# --- Execution (on a worker, or in-process with ``manage.py train --now`` / ``evaluate --now``) ----------


def training_run_execute(
    *, run_id: int, worker: str | None = None, on_progress: ProgressCallback | None = None
) -> TrainingRun | None:
    """Train the queued run ``run_id`` and record the outcome; returns None if the run was not queued.

    ``on_progress`` also receives every progress event (the command line draws its progress bar with it).
    Never raises for a failed run: the failure is recorded on the row.
    """
    return TrainingRunner.handle(run_id, worker=worker, on_progress=on_progress)


def evaluation_run_execute(
    *, run_id: int, worker: str | None = None, on_progress: ProgressCallback | None = None
) -> EvaluationRun | None:
    """Evaluate the queued evaluation ``run_id`` and record metrics and predictions; None if not queued.

    A cancellation stops it after the chunk of reviews being predicted; nothing of it is recorded.
    """
    return EvaluationRunner.handle(run_id, worker=worker, on_progress=on_progress)


# --- The kinds' bodies -----------------------------------------------------------------------------------


class TrainingRunner(TrainingJob):
    # Declared again so that this runner, not the web's ``TrainingJob``, is the kind a worker looks up.
    model = TrainingRun

    def step_values(self, event: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {
            "current_step": int(event.get("step") or 0),
            "total_steps": int(event.get("total_steps") or 0),
            "phase": "training",
        }
        for field, key in (("eta_seconds", "eta_seconds"), ("train_samples_per_second", "samples_per_second")):
            if event.get(key) is not None:
                values[field] = float(event[key])
        return values

    def on_epoch(self, event: dict[str, Any]) -> None:
        EpochMetric.objects.update_or_create(
            run_id=self.job.pk,
            epoch=int(round(float(event["epoch"]))),
            defaults={
                "step": int(event.get("step") or 0),
                "train_loss": event.get("train_loss"),
                "validation_loss": event.get("validation_loss"),
                "validation_accuracy": event.get("validation_accuracy"),
                "validation_f1": event.get("validation_f1"),
            },
        )

    def phase_values(self, event: dict[str, Any]) -> dict[str, Any]:
        eta = event.get("eta_seconds")
        return {
            "phase": str(event["phase"]),
            "phase_done": int(event["done"]),
            "phase_total": int(event["total"]),
            "phase_eta_seconds": float(eta) if eta is not None else None,
        }

    def epoch_values(self, event: dict[str, Any]) -> dict[str, Any]:
        return {"current_step": int(event["step"])} if event.get("step") is not None else {}

    def run(self) -> None:
        from apps.training.services import training_config_of
        from workers.ml.training import train

        run = self.job
        # Under torchrun every rank trains (DistributedDataParallel); rank 0 alone reports and keeps its model.
        rank = int(os.environ.get("RANK", "0"))
        staging = staging_dir(run.pk) if rank == 0 else staging_dir(run.pk).with_name(f"run-{run.pk}-rank-{rank}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if rank == 0:
            self.db.call(lambda: TrainingRun.objects.filter(pk=run.pk).update(device=_device_for(run.kind)))
        config = training_config_of(run)
        data = self.db.call(lambda: split_data(run.snapshot_id))
        lineage = self.db.call(lambda: _lineage(run))
        unlabelled = None
        if config.kind == ModelKind.TRANSFORMER and config.mlm_steps:
            unlabelled, lineage["domain_adaptation"] = self.db.call(
                lambda: unlabelled_texts(run.snapshot_id, config, processes=int(os.environ.get("WORLD_SIZE", "1")))
            )
        try:
            self.result = train(
                config,
                data,
                # Inside the run's staging folder, so the trainer's own temporary files go when it goes.
                staging / "model",
                progress=self.progress if rank == 0 else None,
                should_stop=self.progress.should_stop,
                lineage=lineage,
                unlabelled_texts=unlabelled,
            )
        finally:
            if rank:
                shutil.rmtree(staging, ignore_errors=True)

    def child_state(self) -> dict[str, Any]:
        return {**asdict(self.result), "artifact_dir": str(self.result.artifact_dir)}

    def adopt_child_state(self, state: dict[str, Any]) -> None:
        from workers.ml.training import TrainResult

        self.result = TrainResult(**{**state, "artifact_dir": Path(state["artifact_dir"])})

    def record_success(self, run: TrainingRun) -> None:
        """Move the artifacts into place and store metrics, predictions and the model version (row locked)."""
        result = self.result
        # Named once: a retry after a database outage finds the folder already published.
        name = self.artifact_name = getattr(self, "artifact_name", None) or f"{run.pk}-{uuid.uuid4().hex[:8]}"
        final = Path(settings.ARTIFACT_ROOT) / name
        if Path(result.artifact_dir).exists():
            self.artifact_location = artifacts_publish(folder=Path(result.artifact_dir), name=name)
        shutil.rmtree(staging_dir(run.pk), ignore_errors=True)
        store_metrics(run, result.metrics)
        run.device = result.device or run.device
        run.train_samples_per_second = result.train_samples_per_second
        run.current_step = max(run.current_step, run.total_steps)
        run.eta_seconds = 0
        store_predictions(result.test_predictions, training_run=run)
        version = model_version_register(run=run, result=replace(result, artifact_dir=final))
        model_version_auto_promote(version=version)
        run.append_log(
            f"Succeeded in {result.wall_seconds:.0f} s on {run.device}: test accuracy {run.accuracy:.4f}, "
            f"F1 {run.f1:.4f}. Registered model version {version.pk} at {getattr(self, 'artifact_location', final)}.\n"
        )

    def discard(self) -> None:
        super().discard()
        name = getattr(self, "artifact_name", None)
        if name is not None:
            artifacts_discard(name=name)


class EvaluationRunner(EvaluationJob):
    # Declared again so that this runner, not the web's ``EvaluationJob``, is the kind a worker looks up.
    model = EvaluationRun

    def run(self) -> None:
        from workers.ml.inference import evaluate

        evaluation = self.job
        version = evaluation.model_version

        def on_chunk(event: dict[str, Any]) -> None:
            self.progress(event)
            self.progress.check_cancelled()

        self.db.call(lambda: EvaluationRun.objects.filter(pk=evaluation.pk).update(device=_device_for(version.kind)))
        examples = self.db.call(lambda: evaluation_examples(evaluation))
        facets = self.db.call(lambda: review_facets([example.review_id for example in examples]))
        self.db.call(lambda: EvaluationRun.objects.filter(pk=evaluation.pk).update(total=len(examples)))
        self.progress.log_line(f"Evaluating model version {version.pk} on {len(examples)} reviews.")
        artifact_dir = self.db.call(lambda: model_version_artifact_dir(version=version))
        self.metrics, self.predictions = evaluate(artifact_dir, examples, progress=on_chunk)
        if self.progress.should_stop(force=True):
            raise JobCancelled
        self.slices = evaluation_slices_of(examples, self.predictions, facets)

    def child_state(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "predictions": self.predictions, "slices": self.slices}

    def adopt_child_state(self, state: dict[str, Any]) -> None:
        self.metrics, self.predictions, self.slices = state["metrics"], state["predictions"], state["slices"]

    def record_success(self, evaluation: EvaluationRun) -> None:
        store_metrics(evaluation, self.metrics)
        evaluation.slices = self.slices
        evaluation.processed = len(self.predictions)
        store_predictions(self.predictions, evaluation_run=evaluation)
        evaluation.append_log(
            f"Succeeded: accuracy {evaluation.accuracy:.4f}, F1 {evaluation.f1:.4f} on {len(self.predictions)} reviews.\n"
        )


def store_metrics(job: MetricsMixin, metrics: dict[str, Any]) -> None:
    job.accuracy = metrics.get("accuracy")
    job.precision = metrics.get("precision")
    job.recall = metrics.get("recall")
    job.f1 = metrics.get("f1")
    job.f1_macro = metrics.get("f1_macro")
    job.confusion_matrix = metrics.get("confusion_matrix", [])
    job.metrics = metrics


def store_predictions(rows: list[Any], **owner: Any) -> None:
    RunPrediction.objects.bulk_create(
        (
            RunPrediction(review_id=review_id, gold_label=gold, predicted_label=predicted, confidence=confidence, **owner)
            for review_id, gold, predicted, confidence in rows
        ),
        batch_size=PREDICTION_BATCH_SIZE,
    )


def split_data(snapshot_id: int) -> SplitData:
    from workers.ml.data import SplitData

    return SplitData(
        train=examples_of(snapshot_examples(snapshot=snapshot_id, split="train")),
        validation=examples_of(snapshot_examples(snapshot=snapshot_id, split="validation")),
        test=examples_of(snapshot_examples(snapshot=snapshot_id, split="test")),
    )


def examples_of(rows: list[tuple[int, str, int]]) -> list[Example]:
    from workers.ml.data import Example

    return [Example(review_id=review_id, text=text, label=label) for review_id, text, label in rows]


def unlabelled_texts(snapshot_id: int, config: TrainConfig, *, processes: int = 1) -> tuple[list[str], dict[str, Any]]:
    """The unlabelled reviews a run's domain adaptation pre-trains on, and what the lineage records of them.

    Unlabelled: no gold label, and not in the run's snapshot (a snapshot of human labels holds reviews without a
    gold label; its validation and test reviews must not be seen before they are scored). A seeded sample when
    there are more than the run reads (``workers.ml.domain.pick_reviews``).
    """
    from workers.ml.domain import pick_reviews

    pool = (
        Review.objects.filter(gold_label__isnull=True)
        .exclude(pk__in=SnapshotItem.objects.filter(snapshot_id=snapshot_id).values("review_id"))
        .values_list("id", flat=True)
    )
    available = list(pool)
    picked = pick_reviews(available, config, processes=processes)
    texts: dict[int, str] = {}
    for start in range(0, len(picked), FACET_BATCH_SIZE):
        texts.update(Review.objects.filter(pk__in=picked[start : start + FACET_BATCH_SIZE]).values_list("id", "text"))
    digest = hashlib.sha256(",".join(map(str, picked)).encode()).hexdigest()
    return [texts[pk] for pk in picked if pk in texts], {
        "unlabelled_reviews_available": len(available),
        "unlabelled_reviews_used": len(picked),
        "unlabelled_review_ids_sha256": digest,
    }


def evaluation_examples(evaluation: EvaluationRun) -> list[Example]:
    """The labelled reviews an evaluation scores, in a fixed order, from whichever data it names."""
    if evaluation.split == EvaluationSplit.HUMAN:
        rows = (
            Review.objects.filter(resolution__isnull=False)
            .order_by("id")
            .values_list("id", "text", "resolution__label")
        )
        return examples_of(list(rows))
    if evaluation.split == EvaluationSplit.IMPORT:
        reviews = import_labelled_reviews(evaluation.review_import_id)
        # "label" is the annotation import_labelled_reviews adds, which the stubs' plugin does not see.
        return examples_of(list(reviews.values_list("id", "text", "label")))  # type: ignore[misc]
    if evaluation.split == EvaluationSplit.FILE:
        items = EvaluationDatasetItem.objects.filter(dataset_id=evaluation.dataset_id).order_by("position")
        return examples_of(list(items.values_list("review_id", "review__text", "label")))
    # evaluation_run_create names a snapshot (the given one, else the version's) for every snapshot split.
    if evaluation.snapshot_id is None:
        raise ValueError(f"Evaluation {evaluation.pk} names no snapshot to take its {evaluation.split} split from.")
    return examples_of(snapshot_examples(snapshot=evaluation.snapshot_id, split=evaluation.split))


def review_facets(review_ids: list[int]) -> dict[int, tuple[int | None, str, str]]:
    """``{review id: (rating, source, origin split)}``: what the slices cut by besides the text."""
    facets: dict[int, tuple[int | None, str, str]] = {}
    for start in range(0, len(review_ids), FACET_BATCH_SIZE):
        chunk = review_ids[start : start + FACET_BATCH_SIZE]
        for pk, rating, source, origin in Review.objects.filter(pk__in=chunk).values_list(
            "id", "rating", "source", "origin_split"
        ):
            facets[pk] = (rating, source, origin)
    return facets


def evaluation_slices_of(
    examples: list[Example], predictions: list[Any], facets: dict[int, tuple[int | None, str, str]]
) -> list[dict[str, Any]]:
    from workers.ml.metrics import SliceRow, evaluation_slices, token_count

    texts = {example.review_id: example.text for example in examples}
    rows = []
    for review_id, gold, predicted, _confidence in predictions:
        rating, source, origin = facets.get(review_id, (None, "", ""))
        rows.append(
            SliceRow(
                gold=gold,
                predicted=predicted,
                tokens=token_count(texts[review_id]),
                rating=rating,
                source=source,
                origin_split=origin,
            )
        )
    return evaluation_slices(rows)


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
    from workers.ml.devices import describe_device

    return describe_device()[0]
