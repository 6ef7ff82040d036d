"""Training dispatch: check the config and data, fit a model of the config's kind, publish its artifact folder.

This is the one module of the package's top level that imports the training code (`workers.ml.transformer`,
`workers.ml.domain`, `workers.ml.tfidf`'s fit); the web process never loads it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workers.ml import ProgressCallback, ProgressReporter, Score, StopCheck
from workers.ml.config import TrainConfig
from workers.ml.data import SplitData, subset

if TYPE_CHECKING:
    from workers.ml import ModelFactory

__all__ = ["TrainResult", "train"]


@dataclass
class TrainResult:
    metrics: dict[str, Any]
    test_predictions: list[Score]
    epochs: list[dict[str, Any]]
    device: str
    artifact_dir: Path
    train_samples_per_second: float | None
    wall_seconds: float
    artifact_size: int
    manifest: dict[str, Any]



def _data_problems(data: SplitData) -> list[str]:
    problems = [
        f"The {name} split is empty; a snapshot needs reviews in train, validation and test."
        for name in ("train", "validation", "test")
        if not getattr(data, name)
    ]
    bad_labels = sorted(
        {example.label for examples in (data.train, data.validation, data.test) for example in examples} - {0, 1}
    )
    if bad_labels:
        problems.append(f"Labels must be 0 (negative) or 1 (positive); found {bad_labels}.")
    if data.train and len({example.label for example in data.train}) < 2:
        problems.append("The train split holds only one label; a classifier needs both positive and negative reviews.")
    return problems


def train(
    config: TrainConfig,
    data: SplitData,
    output_dir: Path,
    *,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
    lineage: dict[str, Any] | None = None,
    model_override: ModelFactory | None = None,
    compile_mode: str | None = None,
    unlabelled_texts: Sequence[str] | None = None,
) -> TrainResult:
    """Train a model of `config.kind`, evaluate it on the test split once, and publish its artifact folder.

    `output_dir` must not exist yet (or be empty); it appears complete or not at all.
    `unlabelled_texts` are the reviews domain adaptation (``config.mlm_steps``) pre-trains on.
    Raises ValueError for a bad config or data, TrainingCancelled when `should_stop` returns True.
    """
    from workers.ml import artifacts
    from workers.ml.domain import adaptation_problems

    problems = [f"{name}: {message}" for name, message in config.errors().items()] + _data_problems(data)
    problems += adaptation_problems(config, unlabelled_texts)
    if problems:
        raise ValueError("Cannot train: " + " ".join(problems))
    output_dir = Path(output_dir)
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise FileExistsError(f"The artifact folder {output_dir} already exists; choose a new folder for each run.")

    started = time.perf_counter()
    reporter = ProgressReporter(progress, should_stop)
    if config.subset_size is not None and config.subset_size < len(data.train):
        data = replace(data, train=subset(data.train, config.subset_size, config.seed))
        reporter.log(f"Training on a subset of {len(data.train)} reviews.")
    test_in_snapshot = len(data.test)
    if config.eval_subset_size is not None:
        cap = config.eval_subset_size
        data = replace(
            data,
            validation=subset(data.validation, cap, config.seed) if cap < len(data.validation) else data.validation,
            test=subset(data.test, cap, config.seed) if cap < len(data.test) else data.test,
        )
        reporter.log(
            f"A quick trial: scoring {len(data.validation)} validation and {len(data.test)} of {test_in_snapshot} "
            "test reviews; its test metrics describe that sample, not the snapshot's test split."
        )

    with artifacts.staging_folder(output_dir) as staging:
        if config.kind == "transformer":
            from workers.ml.transformer import fit_transformer, release_compiled_models

            try:
                outcome = fit_transformer(
                    config, data, staging, reporter, model_override, compile_mode, unlabelled_texts=unlabelled_texts
                )
            finally:
                release_compiled_models()
        else:
            from workers.ml.tfidf import fit_tfidf

            outcome = fit_tfidf(config, data, staging, reporter)
        reporter.check_stop()
        if len(data.test) < test_in_snapshot:
            outcome.metrics = {**outcome.metrics, "test_reviews_scored": len(data.test), "test_reviews_in_snapshot": test_in_snapshot}
        manifest = artifacts.publish(
            staging,
            output_dir,
            kind=config.kind,
            config=config,
            metrics=outcome.metrics,
            epochs=reporter.epochs,
            lineage=lineage or {},
            extra_hyperparameters=outcome.extra_hyperparameters,
            data_sizes={"train": len(data.train), "validation": len(data.validation), "test": len(data.test)},
        )
    reporter.log(f"Artifacts written to {output_dir}.")
    return TrainResult(
        metrics=outcome.metrics,
        test_predictions=outcome.test_predictions,
        epochs=reporter.epochs,
        device=outcome.device,
        artifact_dir=output_dir,
        train_samples_per_second=outcome.train_samples_per_second,
        wall_seconds=time.perf_counter() - started,
        artifact_size=artifacts.folder_size(output_dir),
        manifest=manifest,
    )
