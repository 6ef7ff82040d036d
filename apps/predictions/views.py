from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from apps.common.roles import analyst_page
from apps.predictions.choices import PredictionSource
from apps.predictions.forms import PredictForm
from apps.predictions.serving import ModelUnavailable, NoCurrentModel
from apps.predictions.services import PredictionInputError, prediction_create_many

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # analyst_page lets only signed-in users in

    from apps.labelling.views import HtmxRequest

TEMPLATE = "predictions/predict.html"


@analyst_page
@require_http_methods(["GET", "POST"])
def predict(request: HtmxRequest) -> HttpResponse:
    """The prediction form; with HTMX a POST answers with the result fragment only.

    Problems (a bad review, no current model) are shown in the page with status 200, as form errors
    are, so that HTMX swaps the message in.
    """
    form = PredictForm(request.POST if request.method == "POST" else None)
    context: dict[str, Any] = {"form": form, "prediction": None, "problem": None}
    if request.method == "POST":
        if form.is_valid():
            try:
                [context["prediction"]] = prediction_create_many(
                    texts=[form.cleaned_data["text"]], source=PredictionSource.FORM, user=cast("User", request.user)
                )
            except PredictionInputError as error:
                for message in error.errors.values():
                    form.add_error("text", message)
            except (NoCurrentModel, ModelUnavailable) as error:
                context["problem"] = str(error)
    template = f"{TEMPLATE}#result" if request.htmx and request.method == "POST" else TEMPLATE
    return render(request, template, context)
