"""Model versions: the list with the current one and the promotion history, a version's page, promote, roll back."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.common.roles import analyst_page, signed_in
from apps.dashboard.display import render_markdown
from apps.dashboard.forms import PromoteForm, RollbackForm
from apps.dashboard.views.common import ml_admin_required, page_of, render_page
from apps.registry.models import ModelVersion
from apps.registry.selectors import (
    current_model_version,
    latest_promotion_to,
    model_version_card,
    model_version_get,
    model_version_list,
    promotion_history,
    rollback_target,
)
from apps.registry.services import (
    PromotionError,
    model_version_promote,
    model_version_rollback,
)
from apps.training.selectors import evaluation_run_list


@analyst_page
def model_list(request: HttpRequest) -> HttpResponse:
    current = current_model_version()
    context = {
        "current": current,
        "promotion": latest_promotion_to(version=current) if current is not None else None,
        "rollback_to": rollback_target(current) if current is not None else None,
        "rollback_form": RollbackForm(),
        "page": page_of(request, model_version_list()),
        "history": promotion_history(limit=20),
    }
    return render_page(request, "dashboard/model_list.html", context, partials={"versions": "versions"})


@analyst_page
def model_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    version = _version_or_404(version_id)
    card = model_version_card(version=version)
    context = {
        "version": version,
        "promotion": latest_promotion_to(version=version) if version.is_current else None,
        "card": render_markdown(card) if card else None,
        "evaluations": list(evaluation_run_list(model_version_id=version.pk).defer("log_tail")[:20]),
        "promote_form": PromoteForm(),
    }
    return render_page(request, "dashboard/model_detail.html", context)


@ml_admin_required("promote model versions")
@require_POST
def model_promote(request: HttpRequest, version_id: int) -> HttpResponse:
    version = _version_or_404(version_id)
    form = PromoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The promotion form was not understood; fill it in again.")
        return redirect("dashboard:model-detail", version_id=version.pk)
    try:
        promotion = model_version_promote(
            version=version, by=signed_in(request), reason=form.cleaned_data["reason"], force=form.cleaned_data["force"]
        )
    except PromotionError as error:
        messages.error(request, str(error))
        return redirect("dashboard:model-detail", version_id=version.pk)
    was = f" (was {promotion.from_version})" if promotion.from_version else ""
    messages.success(request, f"{version} is now the current model{was}; it serves the next prediction.")
    return redirect("dashboard:models")


@ml_admin_required("roll back the current model")
@require_POST
def model_rollback(request: HttpRequest) -> HttpResponse:
    form = RollbackForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        promotion = model_version_rollback(by=signed_in(request), reason=reason)
    except PromotionError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Rolled back from {promotion.from_version} to {promotion.to_version}.")
    return redirect("dashboard:models")


def _version_or_404(version_id: int) -> ModelVersion:
    try:
        return model_version_get(version_id=version_id)
    except ModelVersion.DoesNotExist:
        raise Http404(f"There is no model version {version_id}.") from None
