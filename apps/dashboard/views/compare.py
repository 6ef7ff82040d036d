"""Two or more training runs side by side: settings, metrics, loss curves, and where their predictions differ.

``?evaluations=`` compares evaluations instead: what each evaluated, metrics, slices, and the reviews
they all scored on which their predictions differ (``?runs=`` stays the runs' compare).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.http import HttpRequest, HttpResponse

from apps.common.choices import JobStatus
from apps.common.roles import analyst_page
from apps.dashboard.display import PALETTE, compared_settings, compared_values, loss_chart
from apps.dashboard.views.common import page_of, render_page
from apps.training.models import RunPrediction
from apps.training.selectors import (
    evaluation_prediction_disagreements,
    evaluation_predictions_of_reviews,
    evaluation_run_search,
    evaluations_compared,
    run_prediction_disagreements,
    run_predictions_of_reviews,
    training_run_search,
    training_runs_compared,
)

MAX_RUNS = 6
METRICS = ("accuracy", "precision", "recall", "f1", "f1_macro")
# Rows of the settings table beyond the runs' own settings: what the runs were trained on and where.
CONTEXT_ROWS = ("snapshot", "device")


@analyst_page
def compare(request: HttpRequest) -> HttpResponse:
    if "evaluations" in request.GET:
        return _compare_evaluations(request)
    run_ids = _run_ids(request.GET.getlist("runs"))
    runs = training_runs_compared(run_ids=run_ids)
    context: dict[str, Any] = {"runs": runs, "run_ids": [run.pk for run in runs], "max_runs": MAX_RUNS}
    if len(runs) < 2:
        # Nothing to compare yet: offer the finished runs to pick from.
        context["choices"] = training_run_search(status=JobStatus.SUCCEEDED)[:50]
        return render_page(request, "dashboard/compare.html", context)
    colours = [PALETTE[index % len(PALETTE)] for index in range(len(runs))]
    page = page_of(request, run_prediction_disagreements(run_ids=context["run_ids"]))
    review_ids = [row["review_id"] for row in page.object_list]
    context.update(
        colours=list(zip(runs, colours, strict=True)),
        settings=compared_settings(runs, CONTEXT_ROWS),
        metrics=compared_values(METRICS, runs),
        best_validation_f1=[max((e.validation_f1 or 0 for e in run.epoch_metrics.all()), default=None) for run in runs],
        chart=loss_chart([(f"run {run.pk}", list(run.epoch_metrics.all())) for run in runs], colours=colours),
        page=page,
        disagreements=_disagreement_rows(runs, review_ids),
    )
    return render_page(request, "dashboard/compare.html", context, partials={"disagreements": "disagreements"})


def _run_ids(values: list[str]) -> list[int]:
    ids = []
    for value in values:
        for part in value.split(","):
            if part.strip().isascii() and part.strip().isdigit():  # '²' is a digit that int() refuses
                ids.append(int(part))
    return list(dict.fromkeys(ids))[:MAX_RUNS]


def _disagreement_rows(runs: list[Any], review_ids: list[int]) -> list[dict[str, Any]]:
    """One row per review: the review, and each run's prediction in the runs' order."""
    by_review: dict[int, dict[int, RunPrediction]] = defaultdict(dict)
    reviews = {}
    for prediction in run_predictions_of_reviews(run_ids=[run.pk for run in runs], review_ids=review_ids):
        by_review[prediction.review_id][prediction.training_run_id] = prediction  # type: ignore[index]
        reviews[prediction.review_id] = prediction
    return [
        {
            "review": reviews[review_id].review,
            "gold_label": reviews[review_id].gold_label,
            "predictions": [by_review[review_id].get(run.pk) for run in runs],
        }
        for review_id in review_ids
        if review_id in reviews
    ]


def _compare_evaluations(request: HttpRequest) -> HttpResponse:
    evaluation_ids = _run_ids(request.GET.getlist("evaluations"))
    evaluations = evaluations_compared(evaluation_ids=evaluation_ids)
    context: dict[str, Any] = {
        "evaluations": evaluations,
        "evaluation_ids": [evaluation.pk for evaluation in evaluations],
        "max_runs": MAX_RUNS,
    }
    if len(evaluations) < 2:
        context["choices"] = evaluation_run_search(status=JobStatus.SUCCEEDED)[:50]
        return render_page(request, "dashboard/compare_evaluations.html", context)
    page = page_of(request, evaluation_prediction_disagreements(evaluation_ids=context["evaluation_ids"]))
    review_ids = [row["review_id"] for row in page.object_list]
    context.update(
        metrics=compared_values(METRICS, evaluations),
        slice_rows=compared_slices(evaluations),
        page=page,
        disagreements=_evaluation_disagreement_rows(evaluations, review_ids),
    )
    return render_page(
        request, "dashboard/compare_evaluations.html", context, partials={"disagreements": "disagreements"}
    )


def compared_slices(evaluations: list[Any]) -> list[dict[str, Any]]:
    """Per dimension, one row per slice any evaluation has, with each evaluation's slice (or None) in order.

    Length quartiles are each evaluation's own (its boundaries), so a length row pairs the evaluations' q1s.
    """
    groups: dict[str, dict[str, Any]] = {}
    for index, evaluation in enumerate(evaluations):
        for group in evaluation.slices or []:
            entry = groups.setdefault(group["dimension"], {"dimension": group["dimension"], "title": group["title"], "rows": {}})
            for item in group["slices"]:
                row = entry["rows"].setdefault(item["value"], {"value": item["value"], "label": item["label"], "cells": [None] * len(evaluations)})
                row["cells"][index] = item
    return [
        {**group, "rows": list(group["rows"].values()), "differs_by_evaluation": group["dimension"] == "length"}
        for group in groups.values()
    ]


def _evaluation_disagreement_rows(evaluations: list[Any], review_ids: list[int]) -> list[dict[str, Any]]:
    by_review: dict[int, dict[int, RunPrediction]] = defaultdict(dict)
    reviews = {}
    predictions = evaluation_predictions_of_reviews(
        evaluation_ids=[evaluation.pk for evaluation in evaluations], review_ids=review_ids
    )
    for prediction in predictions:
        by_review[prediction.review_id][prediction.evaluation_run_id] = prediction  # type: ignore[index]
        reviews[prediction.review_id] = prediction
    return [
        {
            "review": reviews[review_id].review,
            "gold_label": reviews[review_id].gold_label,
            "predictions": [by_review[review_id].get(evaluation.pk) for evaluation in evaluations],
        }
        for review_id in review_ids
        if review_id in reviews
    ]
