"""Moved to ``apps.training.api.evaluation_datasets``; kept only while ``apps/api/urls.py`` imports it from here."""

from apps.training.api.evaluation_datasets import EvaluationDatasetDetailView, EvaluationDatasetListView

__all__ = ["EvaluationDatasetDetailView", "EvaluationDatasetListView"]
