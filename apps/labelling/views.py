"""The labelling pages: queues and their progress, the labelling page itself, conflicts, agreement, upload, export.

Analysts work the queues they are listed on; ML admins manage queues, settle conflicts, upload reviews,
export labels and snapshot them. The labelling page answers its buttons (and their keyboard shortcuts)
with HTMX: one request records the label and brings the next review.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseForbidden,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.common.roles import is_analyst, is_ml_admin, signed_in
from apps.labelling.choices import QueuePool, QueueStrategy
from apps.labelling.errors import LabellingRefused, QueueConfigError
from apps.labelling.exports import export_filename, export_lines, export_rows
from apps.labelling.forms import (
    LabelSnapshotForm,
    QueueEditForm,
    QueueForm,
    SettleForm,
    UploadForm,
)
from apps.labelling.models import LabellingQueue
from apps.labelling.ordering import queue_order_rebuild
from apps.labelling.resolutions import resolution_settle
from apps.labelling.selectors import (
    agreement_summary,
    analyst_progress,
    conflict_list,
    conflict_reviews,
    labels_today,
    page_extras,
    queue_list,
    queue_progress,
    resolution_counts,
)
from apps.labelling.services import (
    annotation_create,
    annotation_undo,
    assignment_next,
    assignment_skip,
    preference_set_show_suggestion,
    queue_can_be_worked_by,
    queue_create,
    queue_update,
)
from apps.predictions.batch import BatchJobError, batch_prediction_job_create, queue_for
from apps.predictions.selectors import batch_job_latest_for_pool
from apps.registry.selectors import current_model_version
from apps.reviews.models import Review
from apps.reviews.snapshots import SnapshotError, snapshot_create
from apps.reviews.uploads import UploadError, review_upload

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    class HtmxRequest(HttpRequest):
        """A request that went through django-htmx's middleware (every page's does): it has ``htmx``."""

        htmx: HtmxDetails


View = Callable[..., HttpResponseBase]


LABEL_TEMPLATE = "labelling/label.html"


def _role_required(check: Callable[[Any], bool], role: str) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not check(request.user):
                return HttpResponseForbidden(
                    render_to_string("labelling/forbidden.html", {"role": role}, request=request)
                )
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


analyst_required = _role_required(is_analyst, "an analyst")
ml_admin_required = _role_required(is_ml_admin, "an ML admin")


# --- Queues ----------------------------------------------------------------------------------------------


@analyst_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    queues = list(queue_list(user=signed_in(request)))
    admin = is_ml_admin(request.user)
    rows = [(queue, queue_progress(queue=queue), queue_can_be_worked_by(queue, signed_in(request))) for queue in queues]
    return render(
        request,
        "labelling/index.html",
        {
            "rows": rows,
            "is_ml_admin": admin,
            "labels_today": labels_today(user=signed_in(request)),
            "conflicts": conflict_reviews().count() if admin else 0,
            "resolutions": resolution_counts() if admin else {},
        },
    )


@ml_admin_required
@require_http_methods(["GET", "POST"])
def queue_new(request: HttpRequest) -> HttpResponse:
    initial = {"pool": request.GET.get("pool") or QueuePool.UNLABELLED, "strategy": QueueStrategy.RANDOM, "overlap": 1}
    if request.GET.get("import"):
        initial["pool_import"] = request.GET["import"]
    form = QueueForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            queue, order = queue_create(
                name=data["name"],
                pool=data["pool"],
                strategy=data["strategy"],
                overlap=data["overlap"],
                annotators=data["annotators"],
                pool_snapshot=data["pool_snapshot"],
                pool_split=data["pool_split"],
                pool_import=data["pool_import"],
                created_by=signed_in(request),
            )
        except QueueConfigError as error:
            for name, message in error.errors.items():
                form.add_error(name if name in form.fields else None, message)
        else:
            messages.success(request, f"Queue {queue.name!r} created: {order.summary}")
            return redirect("labelling:queue-detail", queue_id=queue.pk)
    return render(request, "labelling/queue_form.html", {"form": form, "queue": None})


@ml_admin_required
@require_http_methods(["GET", "POST"])
def queue_edit(request: HttpRequest, queue_id: int) -> HttpResponse:
    queue = get_object_or_404(LabellingQueue, pk=queue_id)
    initial = {
        "name": queue.name,
        "strategy": queue.strategy,
        "overlap": queue.overlap,
        "annotators": list(queue.annotators.all()),
        "is_active": queue.is_active,
    }
    form = QueueEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            queue, order = queue_update(
                queue=queue,
                name=data["name"],
                strategy=data["strategy"],
                overlap=data["overlap"],
                annotators=data["annotators"],
                is_active=data["is_active"],
            )
        except QueueConfigError as error:
            for name, message in error.errors.items():
                form.add_error(name if name in form.fields else None, message)
        else:
            messages.success(request, f"Queue {queue.name!r} saved." + (f" {order.summary}" if order else ""))
            return redirect("labelling:queue-detail", queue_id=queue.pk)
    return render(request, "labelling/queue_form.html", {"form": form, "queue": queue})


@analyst_required
@require_GET
def queue_detail(request: HttpRequest, queue_id: int) -> HttpResponse:
    queue = get_object_or_404(
        LabellingQueue.objects.select_related("pool_snapshot", "pool_import", "ordered_with"), pk=queue_id
    )
    admin = is_ml_admin(request.user)
    if not admin and not queue_can_be_worked_by(queue, signed_in(request)):
        return HttpResponseForbidden(
            render_to_string("labelling/forbidden.html", {"role": "one of this queue's analysts"}, request=request)
        )
    return render(
        request,
        "labelling/queue_detail.html",
        {
            "queue": queue,
            "progress": queue_progress(queue=queue),
            "analysts": analyst_progress(queue=queue),
            "is_ml_admin": admin,
            "can_work": queue_can_be_worked_by(queue, signed_in(request)),
            "current_model": current_model_version(),
            "batch_job": batch_job_latest_for_pool(
                pool=queue.pool, snapshot=queue.pool_snapshot, split=queue.pool_split, import_job=queue.pool_import
            ),
        },
    )


@ml_admin_required
@require_POST
def queue_predict(request: HttpRequest, queue_id: int) -> HttpResponse:
    """Queue a batch prediction of the queue's pool by the current model: what orders an uncertainty queue."""
    queue = get_object_or_404(LabellingQueue.objects.select_related("pool_snapshot", "pool_import"), pk=queue_id)
    version = current_model_version()
    if version is None:
        messages.error(request, "No model is current, so there is nothing to predict with: promote a version first.")
        return redirect("labelling:queue-detail", queue_id=queue.pk)
    try:
        job = batch_prediction_job_create(
            model_version=version,
            pool=queue.pool,
            snapshot=queue.pool_snapshot,
            split=queue.pool_split,
            import_job=queue.pool_import,
            created_by=signed_in(request),
        )
    except BatchJobError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            f"Batch prediction {job.pk} by model version {version.pk} is queued on the {queue_for(version)} worker; "
            "when it finishes, this queue is reordered by its predictions.",
        )
    return redirect("labelling:queue-detail", queue_id=queue.pk)


@ml_admin_required
@require_POST
def queue_reorder(request: HttpRequest, queue_id: int) -> HttpResponse:
    queue = get_object_or_404(LabellingQueue, pk=queue_id)
    order = queue_order_rebuild(queue=queue)
    messages.success(request, f"Queue {queue.name!r} reordered: {order.summary}")
    return redirect("labelling:queue-detail", queue_id=queue.pk)


# --- The labelling page ----------------------------------------------------------------------------------


@analyst_required
@require_http_methods(["GET", "POST"])
def label(request: HtmxRequest, queue_id: int) -> HttpResponse:
    """One review at a time. POST ``action`` = negative | positive | skip | undo | hide_suggestion | show_suggestion.

    With HTMX a POST answers with the card alone (the next review); refusals are shown in it with status
    200, so HTMX swaps the message in. Without JavaScript a POST redirects back to the page.
    """
    queue = get_object_or_404(LabellingQueue, pk=queue_id)
    problem = notice = None
    if request.method == "POST":
        try:
            notice = _label_action(request, queue)
        except LabellingRefused as error:
            problem = error.message
        if not request.htmx:
            if problem:
                messages.error(request, problem)
            elif notice:
                messages.info(request, notice)
            return redirect("labelling:label", queue_id=queue.pk)
    assignment = None
    try:
        assignment = assignment_next(queue=queue, user=signed_in(request))
    except LabellingRefused as error:
        if request.method == "GET" and not request.htmx:
            return HttpResponseForbidden(
                render_to_string("labelling/forbidden.html", {"message": error.message}, request=request)
            )
        problem = error.message
    extras = page_extras(user=signed_in(request), review_id=assignment.review_id if assignment else None)
    context = {
        "queue": queue,
        "assignment": assignment,
        "review": assignment.review if assignment else None,
        "show_suggestion": extras.show_suggestion,
        "suggestion": extras.suggestion,
        "labels_today": extras.labels_today,
        "problem": problem,
        "notice": notice,
    }
    template = f"{LABEL_TEMPLATE}#card" if request.htmx else LABEL_TEMPLATE
    return render(request, template, context)


def _label_action(request: HttpRequest, queue: LabellingQueue) -> str | None:
    action = request.POST.get("action", "")
    if action in ("hide_suggestion", "show_suggestion"):
        preference_set_show_suggestion(user=signed_in(request), show=action == "show_suggestion")
        return None
    if action == "undo":
        assignment = annotation_undo(queue=queue, user=signed_in(request))
        return f"Took back your label of review {assignment.review_id}: label it again."
    review_id = _review_id(request.POST.get("review"))
    if action == "skip":
        assignment_skip(queue=queue, user=signed_in(request), review_id=review_id)
        return f"Skipped review {review_id}."
    outcome = annotation_create(queue=queue, user=signed_in(request), review_id=review_id, label=action)
    text = f"Review {review_id}: {outcome.annotation.get_label_display()}."
    if outcome.resolution is not None:
        text += f" Resolved ({outcome.resolution.get_method_display().lower()})."
    elif outcome.conflict:
        text += " The labels disagree: an ML admin will settle it."
    return text


def _review_id(value: str | None) -> int:
    if value is None or not value.strip().isdigit():
        raise LabellingRefused("Which review? The form lost the review's id; reload the page.")
    return int(value)


# --- Conflicts, agreement ---------------------------------------------------------------------------------


@ml_admin_required
@require_GET
def conflicts(request: HttpRequest) -> HttpResponse:
    queue = _queue_filter(request)
    return render(
        request,
        "labelling/conflicts.html",
        {
            "queue": queue,
            "queues": LabellingQueue.objects.order_by("name"),
            "conflicts": conflict_list(queue=queue),
            "total": conflict_reviews(queue=queue).count(),
            "form": SettleForm(),
        },
    )


@ml_admin_required
@require_POST
def settle(request: HttpRequest, review_id: int) -> HttpResponse:
    review = get_object_or_404(Review, pk=review_id)
    form = SettleForm(request.POST)
    if form.is_valid():
        try:
            resolution = resolution_settle(
                review=review, label=form.cleaned_data["label"], reason=form.cleaned_data["reason"], by=signed_in(request)
            )
        except LabellingRefused as error:
            messages.error(request, f"Review {review.pk}: {error.message}")
        else:
            messages.success(request, f"Review {review.pk} settled as {resolution.get_label_display()}.")
    else:
        problems = " ".join(str(message) for errors in form.errors.values() for message in errors)
        messages.error(request, f"Review {review.pk} was not settled: {problems}")
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/labelling/") else reverse("labelling:conflicts"))


@ml_admin_required
@require_GET
def agreement(request: HttpRequest) -> HttpResponse:
    queue = _queue_filter(request)
    return render(
        request,
        "labelling/agreement.html",
        {"queue": queue, "queues": LabellingQueue.objects.order_by("name"), "summary": agreement_summary(queue=queue)},
    )


def _queue_filter(request: HttpRequest) -> LabellingQueue | None:
    raw = request.GET.get("queue", "")
    return LabellingQueue.objects.filter(pk=int(raw)).first() if raw.isdigit() else None


# --- Upload, export, snapshot ----------------------------------------------------------------------------


@ml_admin_required
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = review_upload(
                file=data["file"],
                file_format=data["file_format"] or None,
                source_name=data["source_name"] or None,
                created_by=signed_in(request),
            )
        except UploadError as error:
            form.add_error("file", f"{error} Nothing was imported.")
        else:
            messages.success(
                request,
                f"Imported {result.rows_read:,} reviews from {data['file'].name}: {result.rows_created:,} new, "
                f"{result.rows_existing:,} already present (import {result.job.pk}).",
            )
            if data["create_queue"] and result.rows_created:
                try:
                    queue, order = queue_create(
                        name=f"Upload {result.job.pk}: {data['file'].name}"[:200],
                        pool=QueuePool.IMPORT,
                        pool_import=result.job,
                        annotators=[signed_in(request)],
                        created_by=signed_in(request),
                    )
                except QueueConfigError as error:
                    messages.error(request, f"No queue was made: {error}")
                else:
                    return redirect("labelling:queue-detail", queue_id=queue.pk)
            return redirect(f"{reverse('labelling:queue-new')}?pool={QueuePool.IMPORT}&import={result.job.pk}")
    return render(request, "labelling/upload.html", {"form": form})


@ml_admin_required
@require_GET
def export(request: HttpRequest, file_format: str) -> StreamingHttpResponse:
    queue = _queue_filter(request)
    content_type = "text/csv" if file_format == "csv" else "application/x-ndjson"
    response = StreamingHttpResponse(
        export_lines(export_rows(queue=queue), file_format=file_format), content_type=f"{content_type}; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{export_filename(file_format=file_format, queue=queue)}"'
    return response


@ml_admin_required
@require_http_methods(["GET", "POST"])
def snapshot(request: HttpRequest) -> HttpResponse:
    form = LabelSnapshotForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            made = snapshot_create(
                name=data["name"] or None,
                seed=data["seed"],
                label_source=data["label_source"],
                description=data["description"],
                created_by=signed_in(request),
            )
        except SnapshotError as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request,
                f"Snapshot {made.pk} ({made.name}) holds {made.size:,} reviews: {made.train_count:,} train, "
                f"{made.validation_count:,} validation, {made.test_count:,} test; hash {made.content_hash[:12]}.",
            )
            return redirect("labelling:index")
    return render(request, "labelling/snapshot.html", {"form": form, "resolutions": resolution_counts()})
