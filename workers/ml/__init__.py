"""Plain-Python ML core: config and data in, metrics and an artifact folder out.

This package holds only the names every part shares (configs, examples, progress reporting and what a
model kind's fit hands back), so importing it loads no training code: training is `workers.ml.training`,
scoring with a published artifact is `workers.ml.inference`. torch, transformers and scikit-learn are
imported only inside the functions that need them, so importing this package stays cheap for web processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workers.ml.config import TrainConfig
from workers.ml.data import Example, SplitData

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    ModelFactory = Callable[[int], tuple[PreTrainedModel, PreTrainedTokenizerBase]]

ProgressCallback = Callable[[dict[str, Any]], None]
StopCheck = Callable[[], bool]
# One scored example: (review_id, gold label, predicted label, confidence in the predicted label)
Score = tuple[int, int, int, float]

__all__ = [
    "Example",
    "FitOutcome",
    "ProgressCallback",
    "ProgressReporter",
    "Score",
    "SplitData",
    "StopCheck",
    "TrainConfig",
    "TrainingCancelled",
]


class TrainingCancelled(Exception):
    """Raised by `workers.ml.training.train` when `should_stop` asked it to stop; nothing is left on disk."""


@dataclass
class FitOutcome:
    """What a model kind hands back once its files are written into the staging folder."""

    metrics: dict[str, Any]
    test_predictions: list[Score]
    device: str
    train_samples_per_second: float | None
    # Settings the kind chose or fixed itself (e.g. the TF-IDF regularisation), for the manifest.
    extra_hyperparameters: dict[str, Any] = field(default_factory=dict)


class ProgressReporter:
    """Sends progress events to the caller's callback and turns a stop request into TrainingCancelled."""

    def __init__(self, progress: ProgressCallback | None, should_stop: StopCheck | None) -> None:
        self._progress = progress
        self._should_stop = should_stop
        self.epochs: list[dict[str, Any]] = []

    def step(self, step: int, total_steps: int, eta_seconds: float | None, samples_per_second: float | None) -> None:
        self._emit(
            {
                "type": "step",
                "step": step,
                "total_steps": total_steps,
                "eta_seconds": eta_seconds,
                "samples_per_second": samples_per_second,
            }
        )

    def epoch(
        self,
        *,
        epoch: int,
        step: int,
        train_loss: float,
        validation_loss: float,
        validation_accuracy: float,
        validation_f1: float,
    ) -> None:
        event = {
            "type": "epoch",
            "epoch": epoch,
            "step": step,
            "train_loss": train_loss,
            "validation_loss": validation_loss,
            "validation_accuracy": validation_accuracy,
            "validation_f1": validation_f1,
        }
        self.epochs.append(event)
        self._emit(event)

    def log(self, text: str) -> None:
        self._emit({"type": "log", "text": text})

    def phase(self, name: str, done: int, total: int, eta_seconds: float | None) -> None:
        """Progress of scoring a split ("validation", "test") once the optimiser steps are done or between epochs."""
        self.check_stop()
        self._emit({"type": "phase", "phase": name, "done": done, "total": total, "eta_seconds": eta_seconds})

    def check_stop(self) -> None:
        if self._should_stop is not None and self._should_stop():
            raise TrainingCancelled("Training was cancelled on request.")

    def _emit(self, event: dict[str, Any]) -> None:
        if self._progress is not None:
            self._progress(event)
