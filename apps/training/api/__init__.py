"""REST API for training and evaluation runs: queue one, follow it, read its metrics, cancel it.

A run is ``queued -> running -> succeeded | failed | cancelled``. Creating one answers 202 with the
queued run and its address in ``Location``; poll that address (``If-None-Match`` makes an unchanged
answer a bodiless 304) or subscribe to the ``training_run.finished`` webhook.

- ``training_runs``: ``/api/training-runs/``.
- ``evaluation_runs``: ``/api/evaluation-runs/``.
- ``evaluation_datasets``: ``/api/evaluation-datasets/`` and the slices evaluations add to runs.
"""

from __future__ import annotations

from apps.training.api.evaluation_datasets import EvaluationDatasetDetailView, EvaluationDatasetListView
from apps.training.api.evaluation_runs import EvaluationRunCancelView, EvaluationRunDetailView, EvaluationRunListView
from apps.training.api.training_runs import TrainingRunCancelView, TrainingRunDetailView, TrainingRunListView

__all__ = [
    "EvaluationDatasetDetailView",
    "EvaluationDatasetListView",
    "EvaluationRunCancelView",
    "EvaluationRunDetailView",
    "EvaluationRunListView",
    "TrainingRunCancelView",
    "TrainingRunDetailView",
    "TrainingRunListView",
]
