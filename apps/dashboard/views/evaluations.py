"""Evaluations: the list, one evaluation's page (metrics, confusion matrix, slices), and starting one."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from apps.common.choices import JobStatus
from apps.common.roles import analyst_page, signed_in
from apps.dashboard.display import confusion_rows
from apps.dashboard.views import common
from apps.dashboard.views.common import (
    STOP_POLLING,
    is_polling,
    ml_admin_required,
    page_of,
    render_page,
)
from apps.training.forms import EvaluationRunForm
from apps.training.models import EvaluationRun
from apps.training.selectors import evaluation_run_get, evaluation_run_search

LIVE_ID = "evaluation-live"
LOG_LINES = 40


@analyst_page
def evaluation_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or None
    if status not in (None, *JobStatus.values):
        status = None
    evaluations = evaluation_run_search(status=status)
    context = {"page": page_of(request, evaluations), "status": status or "", "statuses": JobStatus.choices}
    return render_page(request, "dashboard/evaluation_list.html", context, partials={"evaluation-results": "results"})


@analyst_page
def evaluation_detail(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    try:
        evaluation = evaluation_run_get(evaluation_id=evaluation_id)
    except EvaluationRun.DoesNotExist:
        raise Http404(f"There is no evaluation {evaluation_id}.") from None
    context: dict[str, Any] = {
        "evaluation": evaluation,
        "poll_seconds": common.POLL_SECONDS,
        "matrix": confusion_rows(
            evaluation.confusion_matrix or [],
            lambda gold, predicted: reverse(
                "dashboard:evaluation-cell", kwargs={"owner_id": evaluation.pk, "gold": gold, "predicted": predicted}
            ),
        ),
        "slice_groups": slice_groups(evaluation),
        "progress_percent": 100.0 * evaluation.processed / evaluation.total if evaluation.total else 0.0,
        "log_lines": "\n".join(evaluation.log_tail.rstrip("\n").splitlines()[-LOG_LINES:]),
    }
    if is_polling(request, LIVE_ID):
        status = STOP_POLLING if evaluation.is_finished else 200
        return render_page(
            request, "dashboard/evaluation_detail.html", context, partials={LIVE_ID: "live"}, status=status
        )
    return render_page(request, "dashboard/evaluation_detail.html", context)


@ml_admin_required("start evaluations")
@require_http_methods(["GET", "POST"])
def evaluation_start(request: HttpRequest) -> HttpResponse:
    initial = {name: request.GET[name] for name in ("model_version", "split", "review_import") if request.GET.get(name)}
    form = EvaluationRunForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        evaluation = form.create(created_by=signed_in(request))
        if evaluation is not None:
            messages.success(request, f"Evaluation {evaluation.pk} is queued; this page follows it.")
            return redirect("dashboard:evaluation-detail", evaluation_id=evaluation.pk)
    return render_page(request, "dashboard/evaluation_start.html", {"form": form})


def slice_groups(evaluation: EvaluationRun) -> list[dict[str, Any]]:
    """The stored slices with each slice's share of the evaluated reviews, for the tables."""
    total = sum(sum(row) for row in evaluation.confusion_matrix or []) or evaluation.processed
    groups = []
    for group in evaluation.slices or []:
        rows = [{**entry, "share": 100.0 * entry["count"] / total if total else 0.0} for entry in group["slices"]]
        groups.append({**group, "slices": rows})
    return groups
