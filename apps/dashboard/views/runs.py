"""Training runs: the list, a run's page with its live progress, a confusion-matrix cell, start, cancel, retry."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from apps.common.models import IllegalTransition
from apps.common.roles import analyst_page, signed_in
from apps.dashboard.display import confusion_rows, loss_chart
from apps.dashboard.forms import RunFilterForm
from apps.dashboard.views import common
from apps.dashboard.views.common import (
    STOP_POLLING,
    is_polling,
    ml_admin_required,
    page_of,
    render_page,
)
from apps.reviews.choices import Label
from apps.training.forms import TrainingRunForm
from apps.training.models import EvaluationRun, TrainingRun
from apps.training.selectors import (
    evaluation_run_get,
    run_cell_prediction_queryset,
    training_run_base_models,
    training_run_detail,
    training_run_search,
    training_run_waits_behind,
)
from apps.training.services import (
    HYPERPARAMETERS,
    training_run_cancel,
    training_run_retry,
)
from workers.ml.config import TFIDF_SETTINGS, TRANSFORMER_SETTINGS

RESULTS_ID = "run-results"
LIVE_ID = "run-live"
# Lines of the log shown on a run's page; the row keeps more.
LOG_LINES = 40


@analyst_page
def run_list(request: HttpRequest) -> HttpResponse:
    form = RunFilterForm(request.GET or None, base_models=training_run_base_models())
    runs = training_run_search(**form.filters())
    context = {"form": form, "page": page_of(request, runs), "poll_seconds": common.POLL_SECONDS}
    return render_page(request, "dashboard/run_list.html", context, partials={RESULTS_ID: "results"})


@analyst_page
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    try:
        detail = training_run_detail(run_id=run_id)
    except TrainingRun.DoesNotExist:
        raise Http404(f"There is no training run {run_id}.") from None
    run = detail.run
    context: dict[str, Any] = {
        "detail": detail,
        "run": run,
        "poll_seconds": common.POLL_SECONDS,
        "chart": loss_chart([(f"run {run.pk}", detail.epochs)]),
        "matrix": confusion_rows(
            run.confusion_matrix or [], lambda gold, predicted: _cell_url("training", run.pk, gold, predicted)
        ),
        "evaluations": [
            (
                evaluation,
                confusion_rows(
                    evaluation.confusion_matrix or [],
                    partial(_cell_url, "evaluation", evaluation.pk),
                ),
            )
            for evaluation in detail.evaluations
        ],
        "log_lines": _tail(run.log_tail, LOG_LINES),
        "hyperparameters": [("kind", run.kind), *run.model_settings()],
        "waits_behind": training_run_waits_behind(run=run),
    }
    if is_polling(request, LIVE_ID):
        # The live part stops polling with the answer that shows the run's end.
        status = STOP_POLLING if run.is_finished else 200
        return render_page(request, "dashboard/run_detail.html", context, partials={LIVE_ID: "live"}, status=status)
    return render_page(request, "dashboard/run_detail.html", context)


@analyst_page
def run_cell(request: HttpRequest, owner: str, owner_id: int, gold: int, predicted: int) -> HttpResponse:
    """The reviews in one cell of a training run's (or an evaluation's) confusion matrix."""
    if gold not in Label.values or predicted not in Label.values:
        raise Http404("A confusion-matrix cell is gold 0 or 1 by predicted 0 or 1.")
    run: TrainingRun | None = None
    evaluation: EvaluationRun | None = None
    try:
        if owner == "training":
            run = training_run_detail(run_id=owner_id).run
        else:
            evaluation = evaluation_run_get(evaluation_id=owner_id)
    except (TrainingRun.DoesNotExist, EvaluationRun.DoesNotExist):
        raise Http404(f"There is no {owner} run {owner_id}.") from None
    predictions = run_cell_prediction_queryset(
        training_run=run, evaluation_run=evaluation, gold_label=gold, predicted_label=predicted
    )
    context = {
        "run": run,
        "evaluation": evaluation,
        "gold": gold,
        "predicted": predicted,
        "correct": gold == predicted,
        "page": page_of(request, predictions),
    }
    return render_page(request, "dashboard/run_cell.html", context, partials={"cell-results": "results"})


@ml_admin_required("start training runs")
@require_http_methods(["GET", "POST"])
def run_start(request: HttpRequest) -> HttpResponse:
    initial = {}
    if request.GET.get("from"):
        source = TrainingRun.objects.filter(pk=request.GET["from"]).first() if request.GET["from"].isdigit() else None
        if source is not None:
            initial = {"snapshot": source.snapshot_id, **{name: getattr(source, name) for name in HYPERPARAMETERS}}
    form = TrainingRunForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        run = form.create(created_by=signed_in(request))
        messages.success(request, f"Run {run.pk} is queued; this page follows its progress.")
        return redirect("dashboard:run-detail", run_id=run.pk)
    # Each row says which kinds read it, so the page shows the chosen kind's settings only (site.js).
    rows = [(field, " ".join(_kinds_reading(field.name))) for field in form]
    return render_page(request, "dashboard/run_start.html", {"form": form, "rows": rows})


def _kinds_reading(name: str) -> list[str]:
    if name not in TRANSFORMER_SETTINGS and name not in TFIDF_SETTINGS:
        return []
    return [kind for kind, names in (("transformer", TRANSFORMER_SETTINGS), ("tfidf", TFIDF_SETTINGS)) if name in names]


@ml_admin_required("cancel training runs")
@require_POST
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run_or_404(run_id)
    try:
        run = training_run_cancel(run=run, by=signed_in(request))
    except IllegalTransition as error:
        messages.error(request, str(error))
    else:
        # A running run's page says it is being cancelled in its live part, which drops the notice when the
        # run ends; a message here would stay on the page after that.
        if run.status == "cancelled":
            messages.success(request, f"Run {run.pk} was cancelled before it started.")
    return redirect("dashboard:run-detail", run_id=run_id)


@ml_admin_required("retry training runs")
@require_POST
def run_retry(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run_or_404(run_id)
    try:
        retry = training_run_retry(run=run, by=signed_in(request))
    except IllegalTransition as error:
        messages.error(request, str(error))
        return redirect("dashboard:run-detail", run_id=run_id)
    messages.success(request, f"Run {retry.pk} is queued with the same snapshot and settings as run {run.pk}.")
    return redirect("dashboard:run-detail", run_id=retry.pk)


def _run_or_404(run_id: int) -> TrainingRun:
    try:
        return training_run_detail(run_id=run_id).run
    except TrainingRun.DoesNotExist:
        raise Http404(f"There is no training run {run_id}.") from None


def _cell_url(owner: str, owner_id: int, gold: int, predicted: int) -> str:
    name = "dashboard:run-cell" if owner == "training" else "dashboard:evaluation-cell"
    return reverse(name, kwargs={"owner_id": owner_id, "gold": gold, "predicted": predicted})


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])
