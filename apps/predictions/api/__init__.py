"""REST API for predictions: ``POST /api/predict``, the stored predictions, and batch prediction jobs.

``POST /api/predict`` takes one review (``{"text": ...}``) or up to PREDICTION_MAX_BATCH
(``{"texts": [...]}``) and answers with label, confidence and the model version that answered; every
prediction is stored and listed at ``/api/predictions/``. Batch jobs predict a whole pool of reviews
on a worker. Errors come in the API's one envelope: 400 for a bad body, 401/403 without the right
credentials, 429 over the rate limit, 503 while no model can answer.

- ``predict``: ``POST /api/predict``.
- ``stored``: ``/api/predictions/``.
- ``batch_jobs``: ``/api/batch-predictions/``.
"""

from __future__ import annotations

from apps.predictions.api.batch_jobs import (
    BatchJobCancelView,
    BatchJobDetailView,
    BatchJobListView,
)
from apps.predictions.api.predict import PredictRequestSerializer, PredictView
from apps.predictions.api.stored import PredictionDetailView, PredictionListView

__all__ = [
    "BatchJobCancelView",
    "BatchJobDetailView",
    "BatchJobListView",
    "PredictRequestSerializer",
    "PredictView",
    "PredictionDetailView",
    "PredictionListView",
]
