"""The review browser: search and filters over reviews, labels and a model's predictions; one review's page."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse

from apps.common.roles import analyst_page
from apps.dashboard.forms import ReviewFilterForm
from apps.dashboard.selectors import review_detail as review_detail_of
from apps.dashboard.selectors import review_label_and_model_filter, review_model_opinions
from apps.dashboard.views.common import COUNT_CAP, page_of, render_page
from apps.predictions.selectors import predictions_of_review
from apps.registry.selectors import current_model_version
from apps.reviews.models import Review
from apps.reviews.selectors import review_list_rows, review_search
from apps.training.selectors import run_predictions_of_review

RESULTS_ID = "review-results"


@analyst_page
def review_list(request: HttpRequest) -> HttpResponse:
    form = ReviewFilterForm(request.GET)
    current = current_model_version()
    filters = form.filters(current_version_id=current.pk if current is not None else None)
    # A text that matches more reviews than are counted is a common word: its first pages walk the newest
    # reviews (see review_search's ``many``).
    narrow = review_label_and_model_filter(filters)
    many = review_search(filters, many=True, narrow=narrow) if filters.text.strip() else None
    page = page_of(request, review_search(filters, narrow=narrow), count_cap=COUNT_CAP, when_capped=many)
    review_ids = list(page.object_list)
    reviews = review_list_rows(review_ids=review_ids)
    opinions = (
        review_model_opinions(model_version_id=filters.model_version_id, review_ids=review_ids)
        if filters.model_version_id is not None
        else {}
    )
    context = {
        "form": form,
        "filters": filters,
        "current": current,
        "page": page,
        "rows": [(review, opinions.get(review.pk)) for review in reviews],
    }
    return render_page(request, "dashboard/review_list.html", context, partials={RESULTS_ID: "results"})


@analyst_page
def review_detail(request: HttpRequest, review_id: int) -> HttpResponse:
    try:
        detail = review_detail_of(review_id=review_id)
    except Review.DoesNotExist:
        raise Http404(f"There is no review {review_id}.") from None
    context = {
        "detail": detail,
        "review": detail.review,
        "resolution": getattr(detail.review, "resolution", None),
        "predictions": predictions_of_review(review_id=review_id),
        "run_predictions": run_predictions_of_review(review_id=review_id),
    }
    return render_page(request, "dashboard/review_detail.html", context)
