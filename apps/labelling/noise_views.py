"""The label-noise page (ML admins): the estimated wrong labels per snapshot and per import, and detections to start.

The table polls itself with HTMX while a detection is queued or running, and stops (status 286) once
none is; without JavaScript the page shows the same on a reload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from apps.common.broker import BrokerUnavailable
from apps.common.choices import JobStatus
from apps.common.roles import signed_in
from apps.labelling.models import NoiseDetection
from apps.labelling.noise import (
    OVERVIEW_LIMIT,
    NoiseDetectionError,
    noise_detection_start,
    noise_overview,
)
from apps.labelling.views import ml_admin_required
from apps.reviews.models import DatasetSnapshot, ImportJob

if TYPE_CHECKING:
    from apps.labelling.views import HtmxRequest

Row = TypeVar("Row", DatasetSnapshot, ImportJob)

TEMPLATE = "labelling/noise.html"
POLL_SECONDS = 2
STOP_POLLING = 286


@ml_admin_required
@require_http_methods(["GET", "POST"])
def noise(request: HtmxRequest) -> HttpResponse:
    if request.method == "POST":
        _start(request)
        return redirect("labelling:noise")
    rows = noise_overview()
    busy = NoiseDetection.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists()
    snapshots = DatasetSnapshot.objects.order_by("-created_at", "-pk")[:OVERVIEW_LIMIT]
    context = {"rows": rows, "busy": busy, "poll_seconds": POLL_SECONDS, "snapshots": snapshots}
    if request.htmx:
        return render(request, f"{TEMPLATE}#table", context, status=200 if busy else STOP_POLLING)
    return render(request, TEMPLATE, context)


def _start(request: HttpRequest) -> None:
    snapshot = _row(DatasetSnapshot, request.POST.get("snapshot"))
    import_job = _row(ImportJob, request.POST.get("import_job"))
    try:
        folds = int(request.POST.get("folds") or 5)
    except ValueError:
        messages.error(request, "Folds is a whole number from 2 to 20.")
        return
    try:
        detection = noise_detection_start(
            snapshot=snapshot,
            split=request.POST.get("split", "") if snapshot is not None else "",
            import_job=import_job,
            folds=folds,
            created_by=signed_in(request),
        )
    except NoiseDetectionError as error:
        messages.error(request, str(error))
    except BrokerUnavailable as error:
        messages.error(request, f"No worker can be reached right now ({error}); nothing was queued. Try again shortly.")
    else:
        messages.success(
            request,
            f"Label-noise detection {detection.pk} of {detection.scope_label} is queued; this page follows it. "
            "When it finishes, the suspicious queues reorder by it.",
        )


def _row(model: type[Row], value: str | None) -> Row | None:
    if not value:
        return None
    # isdecimal() alone lets '²' or '٣' through, which int() and the pk lookup refuse.
    return get_object_or_404(model, pk=value) if value.isascii() and value.isdecimal() else None


@ml_admin_required
@require_GET
def noise_detection(request: HttpRequest, detection_id: int) -> HttpResponse:
    detection = get_object_or_404(NoiseDetection.objects.select_related("snapshot", "import_job"), pk=detection_id)
    flagged = detection.scores.filter(is_issue=True).select_related("review").order_by("quality", "review_id")[:50]
    return render(request, "labelling/noise_detection.html", {"detection": detection, "flagged": flagged})
