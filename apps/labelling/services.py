"""Labelling workflows: queues, handing out reviews, labels, skips and undo.

The refusals are in apps.labelling.errors, reading labels and resolving reviews in apps.labelling.resolutions.

Handing out reviews is safe under concurrency. ``assignment_next`` walks the queue's items in rank
order with ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL), so two analysts asking at the same
moment lock different items and never wait on each other. Holding an item's row lock, it counts the
review's live assignments again in a fresh statement, which sees every assignment committed before
the lock was granted, and only then inserts its own: a review never has more live assignments than
the queue's overlap. Live means labelled (not skipped) or handed out and not yet expired. Every
path that can add a live assignment (handing out, labelling after one's hold expired) takes the
item's lock first, and labelling, skipping, undoing and settling a review lock all its queue items, so
they take turns. On SQLite, which has no row locks, the whole transaction holds the database's
write lock (``transaction_mode = IMMEDIATE``), which serialises the same steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.common.roles import is_analyst
from apps.labelling import sql
from apps.labelling.choices import QueuePool, QueueStrategy, ResolutionMethod
from apps.labelling.errors import (
    AlreadyLabelled,
    AlreadyResolved,
    HoldLost,
    NotAnAnnotator,
    NotAssigned,
    NothingToUndo,
    QueueConfigError,
    QueueInactive,
)
from apps.labelling.models import (
    Annotation,
    Assignment,
    LabellingPreference,
    LabellingQueue,
    QueueItem,
    Resolution,
)
from apps.labelling.ordering import QueueOrder, queue_order_rebuild
from apps.labelling.resolutions import parse_label, resolution_apply
from apps.reviews.choices import Label, Split
from apps.reviews.models import Review

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from apps.registry.models import ModelVersion
    from apps.reviews.models import DatasetSnapshot, ImportJob

MAX_OVERLAP = 10


def assignment_ttl() -> timedelta:
    return timedelta(minutes=settings.LABELLING_ASSIGNMENT_MINUTES)


# --- Queues ----------------------------------------------------------------------------------------------


def _name_taken(name: str, queue: LabellingQueue | None) -> bool:
    """Whether another queue than ``queue`` (a saved one, or none) has this name."""
    others = LabellingQueue.objects.filter(name=name)
    if queue is not None and queue.pk is not None:
        others = others.exclude(pk=queue.pk)
    return others.exists()


def queue_errors(
    *,
    name: str,
    pool: str,
    strategy: str,
    overlap: Any,
    annotators: Iterable[User] = (),
    pool_snapshot: DatasetSnapshot | None = None,
    pool_split: str = "",
    pool_import: ImportJob | None = None,
    queue: LabellingQueue | None = None,
) -> dict[str, str]:
    """One message per field a queue would get wrong (empty when it can be saved)."""
    errors: dict[str, str] = {}
    name = name.strip()
    longest = LabellingQueue._meta.get_field("name").max_length or 0
    if not name:
        errors["name"] = "Give the queue a name analysts will recognise, e.g. 'Unlabelled, most uncertain first'."
    elif len(name) > longest:
        errors["name"] = f"A queue name is at most {longest} characters (got {len(name)})."
    elif _name_taken(name, queue):
        errors["name"] = f"There is already a queue named {name!r}; choose another name."
    if strategy not in QueueStrategy.values:
        errors["strategy"] = f"Unknown strategy {strategy!r}: choose one of {', '.join(QueueStrategy.values)}."
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 1 <= overlap <= MAX_OVERLAP:
        errors["overlap"] = f"Overlap is how many analysts label each review: a whole number from 1 to {MAX_OVERLAP}."
    if pool not in QueuePool.values:
        errors["pool"] = f"Unknown pool {pool!r}: choose one of {', '.join(QueuePool.values)}."
    else:
        errors.update(_pool_errors(pool, pool_snapshot, pool_split, pool_import))
        if pool == QueuePool.UNLABELLED and strategy == QueueStrategy.SUSPICIOUS:
            errors["strategy"] = (
                "The suspicious strategy looks for labels the model contradicts, and the unlabelled pool has none: "
                "choose a pool of labelled reviews (a snapshot's split, an import, all reviews) or another strategy."
            )
    not_analysts = [user.get_username() for user in annotators if not is_analyst(user)]
    if not_analysts:
        errors["annotators"] = (
            f"Only analysts and ML admins can label; {', '.join(sorted(not_analysts))} "
            "is in neither group. Add them to the analyst group first."
        )
    return errors


def _pool_errors(
    pool: str, snapshot: DatasetSnapshot | None, split: str, import_job: ImportJob | None
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if pool == QueuePool.SNAPSHOT_SPLIT:
        if snapshot is None:
            errors["pool_snapshot"] = "Choose the snapshot whose split to label."
        if split not in Split.values:
            errors["pool_split"] = f"Choose the split to label: one of {', '.join(Split.values)}."
    else:
        if snapshot is not None:
            errors["pool_snapshot"] = f"A snapshot applies only to the {QueuePool.SNAPSHOT_SPLIT} pool; leave it empty."
        if split:
            errors["pool_split"] = f"A split applies only to the {QueuePool.SNAPSHOT_SPLIT} pool; leave it empty."
    if pool == QueuePool.IMPORT and import_job is None:
        errors["pool_import"] = "Choose the import whose reviews to label."
    elif pool != QueuePool.IMPORT and import_job is not None:
        errors["pool_import"] = f"An import applies only to the {QueuePool.IMPORT} pool; leave it empty."
    return errors


def queue_create(
    *,
    name: str,
    pool: str = QueuePool.UNLABELLED,
    strategy: str = QueueStrategy.RANDOM,
    overlap: int = 1,
    annotators: Iterable[User] = (),
    pool_snapshot: DatasetSnapshot | None = None,
    pool_split: str = "",
    pool_import: ImportJob | None = None,
    created_by: User | None = None,
) -> tuple[LabellingQueue, QueueOrder]:
    """Create a queue and compute its order; raises ``QueueConfigError`` with a message per bad field."""
    annotators = list(annotators)
    errors = queue_errors(
        name=name,
        pool=pool,
        strategy=strategy,
        overlap=overlap,
        annotators=annotators,
        pool_snapshot=pool_snapshot,
        pool_split=pool_split,
        pool_import=pool_import,
    )
    if errors:
        raise QueueConfigError(errors)
    with transaction.atomic():
        queue = LabellingQueue.objects.create(
            name=name.strip(),
            pool=pool,
            strategy=strategy,
            overlap=overlap,
            pool_snapshot=pool_snapshot,
            pool_split=pool_split,
            pool_import=pool_import,
            created_by=created_by,
        )
        queue.annotators.set(annotators)
        order = queue_order_rebuild(queue=queue)
    return queue, order


def queue_update(
    *,
    queue: LabellingQueue,
    name: str | None = None,
    strategy: str | None = None,
    overlap: int | None = None,
    annotators: Iterable[User] | None = None,
    is_active: bool | None = None,
) -> tuple[LabellingQueue, QueueOrder | None]:
    """Change what may change once a queue exists (not its pool); a new strategy or overlap reorders it."""
    annotator_list = list(annotators) if annotators is not None else list(queue.annotators.all())
    new_strategy = strategy if strategy is not None else queue.strategy
    new_overlap = overlap if overlap is not None else queue.overlap
    errors = queue_errors(
        name=name if name is not None else queue.name,
        pool=queue.pool,
        strategy=new_strategy,
        overlap=new_overlap,
        annotators=annotator_list,
        pool_snapshot=queue.pool_snapshot,
        pool_split=queue.pool_split,
        pool_import=queue.pool_import,
        queue=queue,
    )
    if errors:
        raise QueueConfigError(errors)
    reorder = new_strategy != queue.strategy or new_overlap != queue.overlap
    with transaction.atomic():
        if name is not None:
            queue.name = name.strip()
        queue.strategy, queue.overlap = new_strategy, new_overlap
        if is_active is not None:
            queue.is_active = is_active
        queue.__dict__.pop("_annotators_checked", None)
        queue.save(update_fields=["name", "strategy", "overlap", "is_active"])
        if annotators is not None:
            queue.annotators.set(annotator_list)
        order = queue_order_rebuild(queue=queue) if reorder else None
    return queue, order


def queues_reorder_for_model(*, model_version: ModelVersion) -> list[LabellingQueue]:
    """Reorder the active model-assisted queues after new batch predictions of ``model_version``.

    Only the current version's predictions order queues, so nothing happens for another version.
    Returns the queues reordered.
    """
    if not model_version.is_current:
        return []
    queues = list(
        LabellingQueue.objects.filter(is_active=True).exclude(strategy=QueueStrategy.RANDOM).order_by("pk")
    )
    for queue in queues:
        queue_order_rebuild(queue=queue)
    return queues


def queue_can_be_worked_by(queue: LabellingQueue, user: User) -> bool:
    return is_analyst(user) and queue.annotators.filter(pk=user.pk).exists()


# --- Handing out reviews ---------------------------------------------------------------------------------


def assignment_next(*, queue: LabellingQueue, user: User) -> Assignment | None:
    """The review this analyst should label now in ``queue``, or None when the queue has nothing left for them.

    Their current hold comes back as it is (a reload shows the same review); otherwise a new hold on the
    queue's first free review, expiring after ``LABELLING_ASSIGNMENT_MINUTES``. Refuses analysts the
    queue does not list, and inactive queues.
    """
    _check_can_work(queue, user)
    now = timezone.now()
    holds = sql.open_holds(queue_id=queue.pk, user_id=user.pk)
    current = next((hold for hold in holds if hold.expires_at > now), None)
    if current is not None:
        return _assignment(queue, user, current)
    with transaction.atomic(), connection.cursor() as cursor:
        if holds:
            # The analyst's lapsed holds go back to the queue (their places were free for others already).
            Assignment.objects.filter(pk__in=[hold.id for hold in holds], completed_at__isnull=True).delete()
        passed: list[int] = []
        while True:
            statement = sql.next_item(queue_id=queue.pk, overlap=queue.overlap, user_id=user.pk, now=now, passed=passed)
            cursor.execute(*statement)
            row = cursor.fetchone()
            if row is None:
                return None
            item_id, review_id, *review_fields = row
            # A fresh statement: it sees every assignment committed before this item's lock was granted.
            if sql.live_count(cursor, queue_id=queue.pk, review_id=review_id, now=now) < queue.overlap:
                assignment = Assignment.objects.create(
                    queue=queue, review_id=review_id, user=user, expires_at=now + assignment_ttl()
                )
                assignment.review = Review(pk=review_id, **dict(zip(sql.REVIEW_FIELDS, review_fields, strict=True)))
                return assignment
            passed.append(item_id)


def _assignment(queue: LabellingQueue, user: User, hold: sql.Hold) -> Assignment:
    """The hold as the model instance callers get, built from the row already read."""
    assignment = Assignment(
        pk=hold.id,
        queue=queue,
        review_id=hold.review_id,
        user=user,
        assigned_at=hold.assigned_at,
        expires_at=hold.expires_at,
    )
    assignment.review = Review(pk=hold.review_id, **hold.review)
    assignment._state.adding = False
    return assignment


def _check_can_work(queue: LabellingQueue, user: User) -> None:
    if not queue.is_active:
        raise QueueInactive(f"The queue {queue.name!r} is paused; an ML admin can make it active again.")
    # Remembered on the queue object, so a request that labels and then asks for the next review asks once.
    checked: set[int] = queue.__dict__.setdefault("_annotators_checked", set())
    if user.pk in checked:
        return
    if queue_can_be_worked_by(queue, user):
        checked.add(user.pk)
    else:
        raise NotAnAnnotator(
            f"You are not one of the analysts of the queue {queue.name!r}; ask an ML admin to add you to it."
        )


# --- Labelling, skipping, undoing ------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelOutcome:
    annotation: Annotation
    resolution: Resolution | None
    # True when the review has all the labels the queue asks for but they do not agree: a conflict.
    conflict: bool


def annotation_create(*, queue: LabellingQueue, user: User, review_id: int, label: Any) -> LabelOutcome:
    """Record the analyst's label for a review assigned to them; resolve the review once it has enough labels.

    Refuses (``LabellingRefused`` and its kinds) a label other than positive/negative, a review that is
    resolved already, one not assigned to this analyst in this queue (or skipped, or labelled already),
    and one whose hold expired and went to someone else.
    """
    label = parse_label(label)
    _check_can_work(queue, user)
    now = timezone.now()
    with transaction.atomic():
        items = sql.lock_items(review_id)
        item = next((row for row in items if row.queue_id == queue.pk), None)
        state = sql.label_state(queue_id=queue.pk, review_id=review_id, user_id=user.pk)
        if state.resolution_method is not None:
            assert state.resolution_label is not None  # a resolution's label is NOT NULL
            method = ResolutionMethod(state.resolution_method).label.lower()
            raise AlreadyResolved(
                f"Review {review_id} is already resolved ({method}: {Label(state.resolution_label).label}); "
                "it takes no more labels."
            )
        if item is None or state.assignment_id is None or state.skipped:
            raise NotAssigned(
                f"Review {review_id} is not assigned to you in the queue {queue.name!r}; "
                "label the review the queue gives you."
            )
        if state.completed:
            raise AlreadyLabelled(f"You have labelled review {review_id} already; press undo to change your label.")
        # The review's items are locked, so no other label of this review can come in between.
        if state.labelled:
            raise AlreadyLabelled(f"You have labelled review {review_id} already, in another queue.")
        if state.expires_at is not None and state.expires_at <= now:
            with connection.cursor() as cursor:
                taken = sql.live_count(cursor, queue_id=queue.pk, review_id=review_id, now=now)
            if taken >= queue.overlap:
                Assignment.objects.filter(pk=state.assignment_id).delete()
                raise HoldLost(
                    f"Your hold on review {review_id} expired and another analyst has it now; take the next review."
                )
        annotation = Annotation.objects.create(review_id=review_id, user=user, queue=queue, label=label)
        Assignment.objects.filter(pk=state.assignment_id).update(completed_at=now)
        labels = 1
        if queue.overlap > 1:
            labels = Assignment.objects.filter(
                queue=queue, review_id=review_id, completed_at__isnull=False, skipped=False
            ).count()
        resolution, conflict = None, False
        if labels >= queue.overlap:
            QueueItem.objects.filter(pk=item.id).update(is_done=True)
            others_open = any(not other.is_done for other in items if other.id != item.id)
            resolution = resolution_apply(review_id=review_id, gold_label=item.gold_label, existing=None, mark_done=others_open)
            conflict = resolution is None
    return LabelOutcome(annotation=annotation, resolution=resolution, conflict=conflict)


def assignment_skip(*, queue: LabellingQueue, user: User, review_id: int) -> Assignment:
    """Pass on a review: it goes back to the queue for others and never comes back to this analyst here."""
    with transaction.atomic():
        sql.lock_items(review_id)
        assignment = (
            Assignment.objects.select_for_update()
            .filter(queue=queue, review_id=review_id, user=user, completed_at__isnull=True)
            .first()
        )
        if assignment is None:
            raise NotAssigned(
                f"Review {review_id} is not waiting for your label in the queue {queue.name!r}; nothing to skip."
            )
        assignment.completed_at = timezone.now()
        assignment.skipped = True
        assignment.save(update_fields=["completed_at", "skipped"])
    return assignment


def annotation_undo(*, queue: LabellingQueue, user: User) -> Assignment:
    """Take back the analyst's latest label in this queue; the review becomes their current one again.

    A resolution that label completed goes too (it is recomputed when the review is labelled again);
    a review an ML admin settled cannot be undone.
    """
    _check_can_work(queue, user)
    with transaction.atomic():
        latest = Annotation.objects.filter(queue=queue, user=user).order_by("-created_at", "-pk").first()
        if latest is None:
            raise NothingToUndo("You have no label in this queue to undo.")
        sql.lock_items(latest.review_id)
        annotation = Annotation.objects.filter(pk=latest.pk).first()
        if annotation is None:
            raise NothingToUndo("That label was taken back already.")
        resolution = Resolution.objects.filter(review_id=annotation.review_id).first()
        if resolution is not None and resolution.method == ResolutionMethod.SETTLED:
            raise AlreadyResolved(
                f"An ML admin has settled review {annotation.review_id} since you labelled it; the label stays."
            )
        if resolution is not None:
            resolution.delete()
            # The resolution closed the review in every queue: it reopens where its labels no longer suffice.
            _reopen_elsewhere(review_id=annotation.review_id, queue=queue)
        QueueItem.objects.filter(queue=queue, review_id=annotation.review_id).update(is_done=False)
        now = timezone.now()
        assignment, _ = Assignment.objects.update_or_create(
            queue=queue,
            review_id=annotation.review_id,
            user=user,
            defaults={"completed_at": None, "skipped": False, "assigned_at": now, "expires_at": now + assignment_ttl()},
        )
        annotation.delete()
    return assignment


def _reopen_elsewhere(*, review_id: int, queue: LabellingQueue) -> None:
    """Reopen the review's items in the other queues, except where it still has that queue's overlap of labels.

    The label taken back was given in ``queue`` (an analyst labels a review once, in one queue), so it
    counts in none of the others. The caller holds the review's item locks.
    """
    others = QueueItem.objects.filter(review_id=review_id, is_done=True).exclude(queue=queue).select_related("queue")
    for item in others:
        labels = (
            Assignment.objects.filter(queue=item.queue, review_id=review_id, completed_at__isnull=False, skipped=False)
            .count()
        )
        if labels < item.queue.overlap:
            QueueItem.objects.filter(pk=item.pk).update(is_done=False)


# --- Preferences -----------------------------------------------------------------------------------------


def preference_set_show_suggestion(*, user: User, show: bool) -> LabellingPreference:
    preference, _ = LabellingPreference.objects.update_or_create(user=user, defaults={"show_suggestion": show})
    return preference

