"""The retraining page for ML admins: the policies, and every cycle with what it trained and why it promoted or not."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.automation import selectors
from apps.automation.choices import CycleTrigger
from apps.automation.models import ACTIVE_STATUSES, TrainingPolicy
from apps.automation.services import CycleRefused, cycle_start
from apps.dashboard.views import common
from apps.dashboard.views.common import STOP_POLLING, is_polling, ml_admin_required, page_of, render_page

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # ml_admin_required lets only signed-in users in

CYCLES_ID = "cycles"


@ml_admin_required("see the retraining cycles")
def cycle_list(request: HttpRequest) -> HttpResponse:
    page = page_of(request, selectors.cycle_list())
    under_way = any(cycle.status in ACTIVE_STATUSES for cycle in page.object_list)
    policies = [(policy, selectors.new_label_count(policy)) for policy in TrainingPolicy.objects.select_related("benchmark_snapshot")]
    context = {"page": page, "policies": policies, "under_way": under_way, "poll_seconds": common.POLL_SECONDS}
    if is_polling(request, CYCLES_ID):
        # The list stops polling with the answer that shows no cycle under way.
        return render_page(
            request, "automation/cycles.html", context, partials={CYCLES_ID: "cycles"},
            status=200 if under_way else STOP_POLLING,
        )  # fmt: skip
    return render_page(request, "automation/cycles.html", context, partials={CYCLES_ID: "cycles"})


@ml_admin_required("start retraining cycles")
@require_POST
def policy_run(request: HttpRequest, policy_id: int) -> HttpResponse:
    policy = TrainingPolicy.objects.filter(pk=policy_id).first()
    if policy is None:
        raise Http404(f"There is no training policy {policy_id}.")
    try:
        cycle = cycle_start(policy=policy, trigger=CycleTrigger.MANUAL, created_by=cast("User", request.user))
    except CycleRefused as error:
        messages.error(request, str(error))
    else:
        if cycle is None:
            messages.error(request, f"Policy {policy.name!r} has a cycle under way already; this page follows it.")
        else:
            messages.success(request, f"Cycle {cycle.pk} of {policy.name!r} is queued; this page follows it.")
    return redirect("automation:cycles")
