"""Reads of reviews and snapshots for other apps and pages."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count

from apps.reviews.choices import Label, OriginSplit
from apps.reviews.models import DatasetSnapshot, Review


@dataclass(frozen=True)
class SplitCounts:
    split: str
    negative: int
    positive: int
    unlabelled: int

    @property
    def total(self) -> int:
        return self.negative + self.positive + self.unlabelled


def review_counts_by_split_and_label() -> list[SplitCounts]:
    """One row per origin split (IMDb's train/test/unsupervised, or none), counting each label."""
    rows = Review.objects.values("origin_split", "gold_label").annotate(n=Count("id")).order_by()
    table: dict[str, dict[int | None, int]] = {}
    for row in rows:
        table.setdefault(row["origin_split"], {})[row["gold_label"]] = row["n"]
    order = [choice.value for choice in OriginSplit]
    return [
        SplitCounts(
            split=OriginSplit(split).label if split in order else split,
            negative=counts.get(Label.NEGATIVE, 0),
            positive=counts.get(Label.POSITIVE, 0),
            unlabelled=counts.get(None, 0),
        )
        for split, counts in sorted(table.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))
    ]


def snapshot_list() -> list[DatasetSnapshot]:
    return list(DatasetSnapshot.objects.order_by("-created_at"))
