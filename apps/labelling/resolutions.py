"""Labels and resolutions: reading a label, resolving a review from its labels, an ML admin settling one.

Each new or changed resolution sends ``apps.labelling.signals.resolution_made`` (automation checks its
retraining triggers on it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from apps.labelling import sql
from apps.labelling.agreement import resolve_labels
from apps.labelling.choices import ResolutionMethod
from apps.labelling.errors import InvalidLabel, LabellingRefused
from apps.labelling.models import Annotation, Resolution
from apps.labelling.ordering import items_mark_done
from apps.labelling.signals import resolution_made
from apps.reviews.choices import Label
from apps.reviews.models import Review

if TYPE_CHECKING:
    from django.contrib.auth.models import User

REASON_MAX_LENGTH = 2_000
LABEL_WORDS = {"negative": Label.NEGATIVE.value, "positive": Label.POSITIVE.value}


def parse_label(value: Any) -> int:
    """``positive``/``negative`` (any case) or 1/0; anything else is refused with ``InvalidLabel``."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in LABEL_WORDS:
            return LABEL_WORDS[word]
        if word in {"0", "1"}:
            return int(word)
    elif isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return value
    shown = repr(value)[:40]
    raise InvalidLabel(f"The label {shown} is not one this platform knows: label a review positive or negative.")



def resolution_compute(*, review_id: int) -> Resolution | None:
    """Resolve a review from all its labels by the rules of ``resolve_labels``; None leaves a conflict.

    A settled resolution is never replaced.
    """
    with transaction.atomic():
        items = sql.lock_items(review_id)
        gold_label = items[0].gold_label if items else Review.objects.get(pk=review_id).gold_label
        existing = Resolution.objects.filter(review_id=review_id).first()
        if existing is not None and existing.method == ResolutionMethod.SETTLED:
            return existing
        return resolution_apply(review_id=review_id, gold_label=gold_label, existing=existing)


def resolution_apply(
    *, review_id: int, gold_label: int | None, existing: Resolution | None, mark_done: bool = True
) -> Resolution | None:
    labels = list(Annotation.objects.filter(review_id=review_id).values_list("label", flat=True))
    resolved = resolve_labels(labels, gold_label=gold_label)
    if resolved is None:
        if existing is not None:
            existing.delete()
        return None
    if existing is None:
        resolution = Resolution.objects.create(
            review_id=review_id, label=resolved.label, method=resolved.method, reason=resolved.reason
        )
    else:
        resolution = existing
        resolution.label, resolution.method, resolution.reason, resolution.settled_by = (
            resolved.label, resolved.method, resolved.reason, None,
        )  # fmt: skip
        resolution.save()
    if mark_done:
        items_mark_done(review_id=review_id)
    resolution_made.send(sender=Resolution, review_id=review_id)
    return resolution


def resolution_settle(*, review: Review, label: Any, reason: str, by: User) -> Resolution:
    """An ML admin decides a review's label, with the reason; it overrides whatever the labels came to."""
    label = parse_label(label)
    reason = (reason or "").strip()
    if not reason:
        raise LabellingRefused("Say why you settle the review this way; the reason is kept with the label.")
    if len(reason) > REASON_MAX_LENGTH:
        raise LabellingRefused(f"Keep the reason to {REASON_MAX_LENGTH:,} characters (it has {len(reason):,}).")
    with transaction.atomic():
        sql.lock_items(review.pk)
        resolution, _ = Resolution.objects.update_or_create(
            review=review,
            defaults={"label": label, "method": ResolutionMethod.SETTLED, "reason": reason, "settled_by": by},
        )
        items_mark_done(review_id=review.pk)
        resolution_made.send(sender=Resolution, review_id=review.pk)
    return resolution

