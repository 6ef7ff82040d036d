from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.common.models import Job
from apps.reviews.choices import Label, LabelSource, OriginSplit, Split


class Review(models.Model):
    """One movie review. ``(source, external_id)`` identifies it, so re-imports add nothing twice."""

    text = models.TextField()
    source = models.CharField(max_length=64, help_text="Where the review came from, e.g. 'imdb', 'upload', 'api'.")
    external_id = models.CharField(max_length=255, help_text="The review's id within its source.")
    gold_label = models.SmallIntegerField(choices=Label.choices, null=True, blank=True)
    rating = models.SmallIntegerField(null=True, blank=True, help_text="Star rating 1-10, where the source has one.")
    origin_split = models.CharField(max_length=16, choices=OriginSplit.choices, blank=True, default="")
    import_job = models.ForeignKey(
        "reviews.ImportJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="review_unique_source_external_id"),
            models.CheckConstraint(condition=Q(gold_label__in=[0, 1]) | Q(gold_label__isnull=True), name="review_gold_label_valid"),
            models.CheckConstraint(condition=~Q(text=""), name="review_text_not_empty"),
        ]
        indexes = [
            models.Index(fields=["gold_label", "id"], name="review_gold_label_idx"),
            models.Index(fields=["origin_split", "gold_label"], name="review_origin_split_idx"),
            models.Index(fields=["id"], condition=Q(gold_label__isnull=True), name="review_unlabelled_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"


class ImportJob(Job):
    """One import of reviews from a source (a hub dataset, a folder, a tarball, a CSV or JSONL file)."""

    source = models.CharField(max_length=1024)
    source_name = models.CharField(
        max_length=64, default="", blank=True, help_text="The value stored in Review.source for imported rows."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    rows_read = models.PositiveIntegerField(default=0)
    rows_created = models.PositiveIntegerField(default=0)
    rows_existing = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Import {self.pk} of {self.source}"


class StagedReview(models.Model):
    """A review read by a running import, waiting for the import's one short swap into ``Review``.

    Imports write here chunk by chunk, each chunk its own short transaction, so a large import never
    holds the database's write lock for long (SQLite has one for the whole file) and survives a database
    blip by writing the chunk again. The swap, one ``INSERT ... SELECT`` in the transaction that marks the
    import succeeded, keeps it all or nothing; a failed, cancelled or reaped import's rows are deleted.
    """

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="staged_reviews")
    position = models.PositiveIntegerField(help_text="The row's place among the rows the import read.")
    text = models.TextField()
    external_id = models.CharField(max_length=255)
    gold_label = models.SmallIntegerField(null=True, blank=True)
    rating = models.SmallIntegerField(null=True, blank=True)
    origin_split = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "position"], name="staged_review_unique_position"),
        ]


class DatasetSnapshot(models.Model):
    """A frozen, split set of labelled reviews. It never changes once created."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    label_source = models.CharField(max_length=16, choices=LabelSource.choices, default=LabelSource.GOLD)
    seed = models.PositiveIntegerField(default=42)
    train_fraction = models.FloatField(default=0.8)
    validation_fraction = models.FloatField(default=0.1)
    test_fraction = models.FloatField(default=0.1)
    keeps_origin_split = models.BooleanField(
        "keeps the source's split",
        default=False,
        help_text="Test is the source's own test half (IMDb's 25,000), so results compare with published figures.",
    )
    content_hash = models.CharField(max_length=64, db_index=True, help_text="sha256 over (review id, label, split) rows.")
    train_count = models.PositiveIntegerField(default=0)
    validation_count = models.PositiveIntegerField(default=0)
    test_count = models.PositiveIntegerField(default=0)
    positive_count = models.PositiveIntegerField(default=0)
    negative_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.content_hash[:12]})"

    @property
    def size(self) -> int:
        return self.train_count + self.validation_count + self.test_count


class SnapshotItem(models.Model):
    """A review in a snapshot, with the label it was frozen with and its split."""

    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.CASCADE, related_name="items")
    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="snapshot_items")
    split = models.CharField(max_length=16, choices=Split.choices)
    label = models.SmallIntegerField(choices=Label.choices)
    position = models.PositiveIntegerField(help_text="Order within the split after the seeded shuffle.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "review"], name="snapshot_item_unique_review"),
        ]
        indexes = [
            models.Index(fields=["snapshot", "split", "position"], name="snapshot_item_split_idx"),
            models.Index(fields=["snapshot", "split", "label"], name="snapshot_item_label_idx"),
        ]


def concrete_column(model: type[models.Model], name: str) -> str:
    """The database column of ``model``'s concrete field ``name``, for the statements written by hand (COPY, INSERT)."""
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field) and field.column is not None, f"{model.__name__}.{name} has no column"
    return field.column
