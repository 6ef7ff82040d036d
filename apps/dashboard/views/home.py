"""The home page: the current model, labelling progress, runs in progress, recent predictions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from apps.common.roles import analyst_page
from apps.dashboard.selectors import labelling_progress
from apps.dashboard.views import common
from apps.dashboard.views.common import is_polling, render_page
from apps.predictions.selectors import recent_predictions
from apps.registry.selectors import current_model_version, latest_promotion_to
from apps.reviews.selectors import review_counts_by_split_and_label, snapshot_list
from apps.training.selectors import training_runs_active

ACTIVE_RUNS_ID = "active-runs"


@analyst_page
def home(request: HttpRequest) -> HttpResponse:
    active_runs = training_runs_active()
    # The runs part never stops polling (a run may be queued at any time after the page loaded): every
    # POLL_SECONDS while runs go, every IDLE_POLL_SECONDS while none does. Each answer sets the next interval.
    poll_seconds = common.POLL_SECONDS if active_runs else common.IDLE_POLL_SECONDS
    current = current_model_version()
    # The current model's card rides along with each poll (swapped out of band), so the first model
    # becoming current, or a promotion elsewhere, shows without a reload.
    model_context: dict[str, Any] = {
        "current": current,
        "promotion": latest_promotion_to(version=current) if current is not None else None,
        "active_runs": active_runs,
        "poll_seconds": poll_seconds,
        "auto_promote": settings.AUTO_PROMOTE,
    }
    if is_polling(request, ACTIVE_RUNS_ID):
        context = {**model_context, "out_of_band": True}
        return render_page(request, "dashboard/home.html", context, partials={ACTIVE_RUNS_ID: "active-runs"})
    rows = review_counts_by_split_and_label()
    totals = {
        "negative": sum(r.negative for r in rows),
        "positive": sum(r.positive for r in rows),
        "unlabelled": sum(r.unlabelled for r in rows),
    }
    totals["total"] = sum(totals.values())
    context = {
        **model_context,
        "progress": labelling_progress(split_counts=rows),
        "predictions": recent_predictions(limit=8),
        "split_rows": rows,
        "totals": totals,
        "snapshots": snapshot_list()[:5],
    }
    return render_page(request, "dashboard/home.html", context)
