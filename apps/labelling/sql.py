"""The statements of the labelling hot path (label a review, serve the next one), written as SQL.

Every label and every next review runs these, with analysts waiting on each. Built with the ORM, most
of them cost more to build than to run, so they are plain SQL here, with table names from the models.
They run on PostgreSQL and SQLite alike; only PostgreSQL gets the row locks (SQLite serialises writers).

Measured: apps/labelling/sql_orm.py builds the same statements with the ORM (same results, same locks;
tests/labelling/test_sql_orm.py), and bench/labelling_next.py times each pair in one run on the same
data (``sql_against_orm`` in bench/results/labelling_next.json: 100,000 IMDb reviews, PostgreSQL, 200
interleaved calls each, one analyst alone). Median ms SQL -> ORM (ratio orm/sql, median; p95):
next_item 0.94 -> 3.12 (3.3x; 1.6x), live_count 0.17 -> 0.68 (4.0x; 7.7x), open_holds 0.31 -> 0.94
(3.0x; 3.9x), lock_items 0.16 -> 0.58 (3.7x; 6.3x), label_state 0.37 -> 1.62 (4.4x; 1.7x), page_state
0.43 -> 1.81 (4.2x; 3.9x; the ORM reads the counter and the preference in two queries, not one). The
ORM is slower for every statement, so all of them stay SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db import connection
from django.db.models import Field, Model
from django.utils import timezone

from apps.labelling.models import Annotation, Assignment, LabellingPreference, QueueItem, Resolution
from apps.predictions.choices import PredictionSource
from apps.predictions.models import Prediction
from apps.registry.models import ModelVersion
from apps.reviews.models import Review

if TYPE_CHECKING:
    from django.db.backends.utils import CursorWrapper

# The review's columns the labelling page shows, read with the row that hands it out.
REVIEW_FIELDS = ("text", "source", "external_id", "gold_label")

# Assignments that hold a place in a queue: labelled (not skipped), or handed out and not yet expired.
_LIVE = (
    "SELECT {what} FROM {assignment} live WHERE live.queue_id = {queue} AND live.review_id = {review} "
    "AND ((live.completed_at IS NOT NULL AND NOT live.skipped) OR (live.completed_at IS NULL AND live.expires_at > %s))"
)


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def columns(model: type[Model], names: Iterable[str]) -> str:
    """The quoted columns of the model's fields ``names``, comma-separated (for a COPY)."""
    quoted = []
    for name in names:
        field = model._meta.get_field(name)
        assert isinstance(field, Field) and field.column is not None  # names are the model's own concrete fields
        quoted.append(connection.ops.quote_name(field.column))
    return ", ".join(quoted)


def moment(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def aware(value: Any) -> datetime:
    """A datetime read by raw SQL: aware on PostgreSQL, naive UTC (parsed by the driver) on SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value


def next_item(
    *, queue_id: int, overlap: int, user_id: int, now: datetime, passed: Iterable[int] = ()
) -> tuple[str, list[Any]]:
    """The queue's first item the analyst may get: ``item id, review id, *REVIEW_FIELDS``.

    An item qualifies when its review is not done or resolved, the analyst has neither had it in this
    queue nor labelled it elsewhere, and its live assignments leave room under the overlap. On
    PostgreSQL the row comes locked, and rows other transactions hold locked are skipped.
    """
    assignment = table(Assignment)
    mine = (
        f"SELECT 1 FROM {assignment} mine WHERE mine.queue_id = item.queue_id AND mine.review_id = item.review_id "
        "AND mine.user_id = %s"
    )
    if overlap == 1:
        # One anti-join for both: any live assignment, or one of the analyst's own (fewer joins to plan).
        taken = (
            f"SELECT 1 FROM {assignment} live WHERE live.queue_id = item.queue_id AND live.review_id = item.review_id "
            "AND (live.user_id = %s OR (live.completed_at IS NOT NULL AND NOT live.skipped) "
            "OR (live.completed_at IS NULL AND live.expires_at > %s))"
        )
        room, room_params = f"NOT EXISTS ({taken})", [user_id, moment(now)]
    else:
        live = _LIVE.format(what="COUNT(*)", assignment=assignment, queue="item.queue_id", review="item.review_id")
        room, room_params = f"NOT EXISTS ({mine}) AND ({live}) < %s", [user_id, moment(now), overlap]
    passed = list(passed)
    columns = ", ".join(f"review.{connection.ops.quote_name(name)}" for name in REVIEW_FIELDS)
    sql = (
        f"SELECT item.id, item.review_id, {columns} FROM {table(QueueItem)} item "
        f"JOIN {table(Review)} review ON review.id = item.review_id "
        "WHERE item.queue_id = %s AND NOT item.is_done "
        f"AND NOT EXISTS (SELECT 1 FROM {table(Annotation)} labelled WHERE labelled.review_id = item.review_id "
        "AND labelled.user_id = %s) "
        f"AND NOT EXISTS (SELECT 1 FROM {table(Resolution)} resolved WHERE resolved.review_id = item.review_id) "
        f"AND {room} "
        + (f"AND item.id NOT IN ({', '.join(['%s'] * len(passed))}) " if passed else "")
        + "ORDER BY item.rank LIMIT 1"
        + (" FOR UPDATE OF item SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else "")
    )
    return sql, [queue_id, user_id, *room_params, *passed]


def live_count(cursor: CursorWrapper, *, queue_id: int, review_id: int, now: datetime) -> int:
    """How many live assignments the review has in the queue, read by a statement of its own."""
    cursor.execute(
        _LIVE.format(what="COUNT(*)", assignment=table(Assignment), queue="%s", review="%s"),
        [queue_id, review_id, moment(now)],
    )
    return int(cursor.fetchone()[0])


class Hold(NamedTuple):
    """An assignment of the analyst's still waiting for a label, with its review."""

    id: int
    review_id: int
    assigned_at: datetime
    expires_at: datetime
    review: dict[str, Any]


def open_holds(*, queue_id: int, user_id: int) -> list[Hold]:
    """The analyst's assignments in the queue that wait for a label, latest first."""
    columns = ", ".join(f"review.{connection.ops.quote_name(name)}" for name in REVIEW_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT hold.id, hold.review_id, hold.assigned_at, hold.expires_at, {columns} "
            f"FROM {table(Assignment)} hold JOIN {table(Review)} review ON review.id = hold.review_id "
            "WHERE hold.queue_id = %s AND hold.user_id = %s AND hold.completed_at IS NULL "
            "ORDER BY hold.assigned_at DESC, hold.id DESC",
            [queue_id, user_id],
        )
        return [
            Hold(row[0], row[1], aware(row[2]), aware(row[3]), dict(zip(REVIEW_FIELDS, row[4:], strict=True)))
            for row in cursor.fetchall()
        ]


class LockedItem(NamedTuple):
    id: int
    queue_id: int
    is_done: bool
    gold_label: int | None


def lock_items(review_id: int) -> list[LockedItem]:
    """Lock the review's items in every queue, in id order (so two transactions never wait in a circle)."""
    lock = " FOR UPDATE OF item" if connection.features.has_select_for_update_of else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT item.id, item.queue_id, item.is_done, review.gold_label FROM {table(QueueItem)} item "
            f"JOIN {table(Review)} review ON review.id = item.review_id "
            f"WHERE item.review_id = %s ORDER BY item.id{lock}",
            [review_id],
        )
        return [LockedItem(row[0], row[1], bool(row[2]), row[3]) for row in cursor.fetchall()]


class LabelState(NamedTuple):
    """What deciding on a label needs to know: the analyst's assignment, the review's resolution, their labels."""

    assignment_id: int | None
    completed: bool
    skipped: bool
    expires_at: datetime | None
    resolution_label: int | None
    resolution_method: str | None
    labelled: bool


def label_state(*, queue_id: int, review_id: int, user_id: int) -> LabelState:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT hold.id, hold.completed_at IS NOT NULL, hold.skipped, hold.expires_at, "
            "resolution.label, resolution.method, "
            f"EXISTS (SELECT 1 FROM {table(Annotation)} labelled "
            "WHERE labelled.review_id = %s AND labelled.user_id = %s) "
            f"FROM {table(Review)} review LEFT JOIN {table(Assignment)} hold "
            "ON hold.review_id = review.id AND hold.queue_id = %s AND hold.user_id = %s "
            f"LEFT JOIN {table(Resolution)} resolution ON resolution.review_id = review.id "
            "WHERE review.id = %s",
            [review_id, user_id, queue_id, user_id, review_id],
        )
        row = cursor.fetchone()
    if row is None:
        return LabelState(None, False, False, None, None, None, False)
    return LabelState(
        assignment_id=row[0],
        completed=bool(row[1]),
        skipped=bool(row[2]),
        expires_at=aware(row[3]) if row[3] is not None else None,
        resolution_label=row[4],
        resolution_method=row[5],
        labelled=bool(row[6]),
    )


class PageState(NamedTuple):
    """What the labelling page shows beside the review: the analyst's counter and the model's suggestion."""

    labels_today: int
    show_suggestion: bool
    suggestion_label: int | None
    suggestion_confidence: float | None
    suggestion_version: int | None


def page_state(*, user_id: int, since: datetime, review_id: int | None) -> PageState:
    """Labels today, whether the analyst shows suggestions, and the current model's latest batch prediction."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT COUNT(*) FROM {table(Annotation)} WHERE user_id = %s AND created_at >= %s), "
            f"(SELECT show_suggestion FROM {table(LabellingPreference)} WHERE user_id = %s)",
            [user_id, moment(since), user_id],
        )
        today, show = cursor.fetchone()
        show = show is None or bool(show)
        suggestion: tuple[Any, ...] = (None, None, None)
        if show and review_id is not None:
            cursor.execute(
                f"SELECT prediction.label, prediction.confidence, prediction.model_version_id "
                f"FROM {table(Prediction)} prediction JOIN {table(ModelVersion)} version "
                "ON version.id = prediction.model_version_id AND version.is_current "
                "WHERE prediction.review_id = %s AND prediction.source = %s "
                "ORDER BY prediction.created_at DESC, prediction.id DESC LIMIT 1",
                [review_id, PredictionSource.BATCH.value],
            )
            suggestion = cursor.fetchone() or suggestion
    return PageState(int(today), show, *suggestion)
