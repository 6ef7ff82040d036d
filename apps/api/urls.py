"""``/api/``: every REST endpoint, the OpenAPI schema and its documentation pages."""

from __future__ import annotations

from django.urls import include, path

import apps.api.converters  # noqa: F401  (registers <id:...>)
from apps.api import docs
from apps.common import api as tokens
from apps.predictions import api as predictions
from apps.reviews import api as reviews
from apps.training import api as training
from apps.training.api import evaluation_datasets as evaluations
from apps.webhooks import api as webhooks

app_name = "api"

urlpatterns = [
    path("schema/", docs.SchemaView.as_view(), name="schema"),
    path("docs/", docs.SwaggerView.as_view(), name="docs"),
    path("redoc/", docs.RedocView.as_view(), name="redoc"),
    path("auth/token/", tokens.TokenLoginView.as_view(), name="token-login"),
    path("tokens/", tokens.TokenListView.as_view(), name="tokens"),
    path("tokens/<id:pk>/", tokens.TokenDetailView.as_view(), name="token"),
    path("reviews/", reviews.ReviewListView.as_view(), name="reviews"),
    path("reviews/bulk/", reviews.ReviewBulkCreateView.as_view(), name="reviews-bulk"),
    path("reviews/<id:pk>/", reviews.ReviewDetailView.as_view(), name="review"),
    path("imports/", reviews.ImportListView.as_view(), name="imports"),
    path("imports/<id:pk>/", reviews.ImportDetailView.as_view(), name="import"),
    path("imports/<id:pk>/cancel/", reviews.ImportCancelView.as_view(), name="import-cancel"),
    path("snapshots/", reviews.SnapshotListView.as_view(), name="snapshots"),
    path("snapshots/<id:pk>/", reviews.SnapshotDetailView.as_view(), name="snapshot"),
    path("training-runs/", training.TrainingRunListView.as_view(), name="training-runs"),
    path("training-runs/<id:pk>/", training.TrainingRunDetailView.as_view(), name="training-run"),
    path("training-runs/<id:pk>/cancel/", training.TrainingRunCancelView.as_view(), name="training-run-cancel"),
    path("evaluation-runs/", training.EvaluationRunListView.as_view(), name="evaluation-runs"),
    path("evaluation-runs/<id:pk>/", training.EvaluationRunDetailView.as_view(), name="evaluation-run"),
    path("evaluation-runs/<id:pk>/cancel/", training.EvaluationRunCancelView.as_view(), name="evaluation-run-cancel"),
    path("evaluation-datasets/", evaluations.EvaluationDatasetListView.as_view(), name="evaluation-datasets"),
    path("evaluation-datasets/<id:pk>/", evaluations.EvaluationDatasetDetailView.as_view(), name="evaluation-dataset"),
    path("models/", include("apps.registry.urls")),
    path("predict", predictions.PredictView.as_view(), name="predict"),
    path("predictions/", predictions.PredictionListView.as_view(), name="predictions"),
    path("predictions/<id:pk>/", predictions.PredictionDetailView.as_view(), name="prediction"),
    path("batch-predictions/", predictions.BatchJobListView.as_view(), name="batch-predictions"),
    path("batch-predictions/<id:pk>/", predictions.BatchJobDetailView.as_view(), name="batch-prediction"),
    path("batch-predictions/<id:pk>/cancel/", predictions.BatchJobCancelView.as_view(), name="batch-prediction-cancel"),
    path("webhooks/", webhooks.SubscriptionListView.as_view(), name="webhooks"),
    path("webhooks/<id:pk>/", webhooks.SubscriptionDetailView.as_view(), name="webhook"),
    path("webhooks/<id:pk>/ping/", webhooks.SubscriptionPingView.as_view(), name="webhook-ping"),
    path("webhooks/<id:pk>/deliveries/", webhooks.DeliveryListView.as_view(), name="webhook-deliveries"),
]
