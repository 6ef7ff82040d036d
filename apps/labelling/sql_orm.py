"""The statements of apps.labelling.sql, built with the ORM: a measured alternative, not used by the app.

Same names, signatures and results as the SQL ones (tests/labelling/test_sql_orm.py checks it), and the
same row locks on PostgreSQL, so bench/labelling_next.py can time one against the other on the same data.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    FilteredRelation,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
)

from apps.labelling.models import (
    Annotation,
    Assignment,
    LabellingPreference,
    QueueItem,
    Resolution,
)
from apps.labelling.sql import REVIEW_FIELDS, Hold, LabelState, LockedItem, PageState
from apps.predictions.choices import PredictionSource
from apps.predictions.models import Prediction
from apps.reviews.models import Review

if TYPE_CHECKING:
    from django.db.backends.utils import CursorWrapper


def _live(now: datetime) -> Q:
    """Assignments that hold a place: labelled (not skipped), or handed out and not yet expired."""
    return Q(completed_at__isnull=False, skipped=False) | Q(completed_at__isnull=True, expires_at__gt=now)


class _Count(Func):
    """``COUNT(*)`` of a subquery's rows without a GROUP BY (so no rows count 0, not NULL)."""

    template = "COUNT(*)"
    output_field = IntegerField()


def next_item(
    *, queue_id: int, overlap: int, user_id: int, now: datetime, passed: Iterable[int] = ()
) -> tuple[str, list[Any]]:
    """The statement of ``sql.next_item``: the queue's first item the analyst may get, built by the ORM."""
    same = Assignment.objects.filter(queue_id=OuterRef("queue_id"), review_id=OuterRef("review_id"))
    items = QueueItem.objects.filter(queue_id=queue_id, is_done=False).filter(
        ~Exists(Annotation.objects.filter(review_id=OuterRef("review_id"), user_id=user_id)),
        ~Exists(Resolution.objects.filter(review_id=OuterRef("review_id"))),
    )
    if overlap == 1:
        items = items.filter(~Exists(same.filter(Q(user_id=user_id) | _live(now))))
    else:
        live = same.filter(_live(now)).annotate(n=_Count()).values("n")
        items = items.filter(~Exists(same.filter(user_id=user_id))).annotate(live=Subquery(live)).filter(
            live__lt=overlap
        )
    passed = list(passed)
    if passed:
        items = items.exclude(id__in=passed)
    items = items.order_by("rank").values_list("id", "review_id", *(f"review__{name}" for name in REVIEW_FIELDS))
    if connection.features.has_select_for_update_skip_locked:
        items = items.select_for_update(skip_locked=True, of=("self",))
    sql, params = items[:1].query.sql_with_params()
    return sql, list(params)


def live_count(cursor: CursorWrapper, *, queue_id: int, review_id: int, now: datetime) -> int:
    """How many live assignments the review has in the queue (``cursor`` unused: the ORM has its own)."""
    return Assignment.objects.filter(_live(now), queue_id=queue_id, review_id=review_id).count()


def open_holds(*, queue_id: int, user_id: int) -> list[Hold]:
    """The analyst's assignments in the queue that wait for a label, latest first."""
    rows = (
        Assignment.objects.filter(queue_id=queue_id, user_id=user_id, completed_at__isnull=True)
        .order_by("-assigned_at", "-id")
        .values_list("id", "review_id", "assigned_at", "expires_at", *(f"review__{name}" for name in REVIEW_FIELDS))
    )
    return [Hold(row[0], row[1], row[2], row[3], dict(zip(REVIEW_FIELDS, row[4:], strict=True))) for row in rows]


def lock_items(review_id: int) -> list[LockedItem]:
    """Lock the review's items in every queue, in id order (so two transactions never wait in a circle)."""
    items = (
        QueueItem.objects.filter(review_id=review_id)
        .order_by("id")
        .values_list("id", "queue_id", "is_done", "review__gold_label")
    )
    if connection.features.has_select_for_update_of:
        items = items.select_for_update(of=("self",))
    return [LockedItem(row[0], row[1], bool(row[2]), row[3]) for row in items]


def label_state(*, queue_id: int, review_id: int, user_id: int) -> LabelState:
    row = (
        Review.objects.filter(pk=review_id)
        .annotate(
            hold=FilteredRelation("assignments", condition=Q(assignments__queue_id=queue_id, assignments__user_id=user_id)),
            completed=ExpressionWrapper(Q(hold__completed_at__isnull=False), output_field=BooleanField()),
            labelled=Exists(Annotation.objects.filter(review_id=review_id, user_id=user_id)),
        )
        .values_list(
            "hold__id", "completed", "hold__skipped", "hold__expires_at", "resolution__label", "resolution__method",
            "labelled",
        )
        .first()
    )
    if row is None:
        return LabelState(None, False, False, None, None, None, False)
    return LabelState(
        assignment_id=row[0],
        completed=bool(row[1]),
        skipped=bool(row[2]),
        expires_at=row[3],
        resolution_label=row[4],
        resolution_method=row[5],
        labelled=bool(row[6]),
    )


def page_state(*, user_id: int, since: datetime, review_id: int | None) -> PageState:
    """Labels today, whether the analyst shows suggestions, and the current model's latest batch prediction."""
    today = Annotation.objects.filter(user_id=user_id, created_at__gte=since).count()
    show = LabellingPreference.objects.filter(user_id=user_id).values_list("show_suggestion", flat=True).first()
    show = show is None or bool(show)
    suggestion: tuple[Any, ...] = (None, None, None)
    if show and review_id is not None:
        latest = (
            Prediction.objects.filter(
                review_id=review_id, source=PredictionSource.BATCH.value, model_version__is_current=True
            )
            .order_by("-created_at", "-id")
            .values_list("label", "confidence", "model_version_id")
            .first()
        )
        suggestion = latest or suggestion
    return PageState(int(today), show, *suggestion)
