from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.reviews.selectors import review_counts_by_split_and_label, snapshot_list


@login_required
def home(request: HttpRequest) -> HttpResponse:
    rows = review_counts_by_split_and_label()
    totals = {
        "negative": sum(r.negative for r in rows),
        "positive": sum(r.positive for r in rows),
        "unlabelled": sum(r.unlabelled for r in rows),
    }
    totals["total"] = sum(totals.values())
    return render(
        request,
        "dashboard/home.html",
        {"split_rows": rows, "totals": totals, "snapshots": snapshot_list()[:10]},
    )
