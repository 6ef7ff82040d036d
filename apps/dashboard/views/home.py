"""The home page: the current model, labelling progress, runs in progress, recent predictions."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse

from apps.dashboard.views import common
from apps.dashboard.views.common import is_polling, render_page
from apps.predictions.selectors import recent_predictions
from apps.registry.selectors import current_model_version, latest_promotion_to
from apps.reviews.selectors import labelling_progress, review_counts_by_split_and_label, snapshot_list
from apps.training.selectors import training_runs_active

ACTIVE_RUNS_ID = "active-runs"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    active_runs = training_runs_active()
    # The runs part never stops polling (a run may be queued at any time after the page loaded): every
    # POLL_SECONDS while runs go, every IDLE_POLL_SECONDS while none does. Each answer sets the next interval.
    poll_seconds = common.POLL_SECONDS if active_runs else common.IDLE_POLL_SECONDS
    if is_polling(request, ACTIVE_RUNS_ID):
        context = {"active_runs": active_runs, "poll_seconds": poll_seconds}
        return render_page(request, "dashboard/home.html", context, partials={ACTIVE_RUNS_ID: "active-runs"})
    current = current_model_version()
    rows = review_counts_by_split_and_label()
    totals = {
        "negative": sum(r.negative for r in rows),
        "positive": sum(r.positive for r in rows),
        "unlabelled": sum(r.unlabelled for r in rows),
    }
    totals["total"] = sum(totals.values())
    context = {
        "current": current,
        "promotion": latest_promotion_to(version=current) if current is not None else None,
        "progress": labelling_progress(split_counts=rows),
        "active_runs": active_runs,
        "poll_seconds": poll_seconds,
        "predictions": recent_predictions(limit=8),
        "split_rows": rows,
        "totals": totals,
        "snapshots": snapshot_list()[:5],
    }
    return render_page(request, "dashboard/home.html", context)
