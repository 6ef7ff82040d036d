from __future__ import annotations

from django.urls import path

from apps.dashboard.views import compare, evaluations, home, models, reviews, runs

app_name = "dashboard"

urlpatterns = [
    path("", home.home, name="home"),
    path("runs/", runs.run_list, name="runs"),
    path("runs/new/", runs.run_start, name="run-start"),
    path("runs/<int:run_id>/", runs.run_detail, name="run-detail"),
    path("runs/<int:run_id>/cancel/", runs.run_cancel, name="run-cancel"),
    path("runs/<int:run_id>/retry/", runs.run_retry, name="run-retry"),
    path(
        "runs/<int:owner_id>/cells/<int:gold>/<int:predicted>/",
        runs.run_cell,
        {"owner": "training"},
        name="run-cell",
    ),
    path("evaluations/", evaluations.evaluation_list, name="evaluations"),
    path("evaluations/new/", evaluations.evaluation_start, name="evaluation-start"),
    path("evaluations/<int:evaluation_id>/", evaluations.evaluation_detail, name="evaluation-detail"),
    path(
        "evaluations/<int:owner_id>/cells/<int:gold>/<int:predicted>/",
        runs.run_cell,
        {"owner": "evaluation"},
        name="evaluation-cell",
    ),
    path("compare/", compare.compare, name="compare"),
    path("models/", models.model_list, name="models"),
    path("models/rollback/", models.model_rollback, name="model-rollback"),
    path("models/<int:version_id>/", models.model_detail, name="model-detail"),
    path("models/<int:version_id>/promote/", models.model_promote, name="model-promote"),
    path("reviews/", reviews.review_list, name="reviews"),
    path("reviews/<int:review_id>/", reviews.review_detail, name="review-detail"),
]
