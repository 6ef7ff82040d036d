from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.common.models import Job
from apps.labelling.choices import QueuePool, QueueStrategy, ResolutionMethod
from apps.reviews.choices import Label, Split


class LabellingQueue(models.Model):
    name = models.CharField(max_length=200, unique=True)
    pool = models.CharField(max_length=32, choices=QueuePool.choices, default=QueuePool.UNLABELLED)
    pool_snapshot = models.ForeignKey("reviews.DatasetSnapshot", null=True, blank=True, on_delete=models.PROTECT)
    pool_split = models.CharField(max_length=16, choices=Split.choices, blank=True)
    pool_import = models.ForeignKey("reviews.ImportJob", null=True, blank=True, on_delete=models.PROTECT)
    strategy = models.CharField(max_length=16, choices=QueueStrategy.choices, default=QueueStrategy.RANDOM)
    overlap = models.PositiveSmallIntegerField(default=1, help_text="How many analysts label each review.")
    annotators = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="labelling_queues")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ordered_at = models.DateTimeField(null=True, blank=True, help_text="When the queue's order was last computed.")
    ordered_with = models.ForeignKey(
        "registry.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The model version whose batch predictions set the order (none for random order).",
    )

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(overlap__gte=1), name="queue_overlap_positive")]

    def __str__(self) -> str:
        return self.name


class QueueItem(models.Model):
    """A review of a queue's pool at its place in the queue's order.

    The order is computed once per queue (``queue_order_rebuild``), so serving the next review walks an
    index instead of sorting the pool. ``is_done`` marks reviews that need no more labels in this queue
    (enough labels, or resolved); the index that serves reviews leaves them out.
    """

    queue = models.ForeignKey(LabellingQueue, on_delete=models.CASCADE, related_name="items")
    review = models.ForeignKey("reviews.Review", on_delete=models.CASCADE, related_name="queue_items")
    rank = models.PositiveIntegerField(help_text="Place in the queue's order; 0 comes first.")
    score = models.FloatField(
        null=True, blank=True, help_text="The strategy's score: the model's confidence (uncertainty, suspicious)."
    )
    is_done = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue", "review"], name="queue_item_unique_review"),
        ]
        indexes = [
            models.Index(fields=["queue", "rank"], condition=Q(is_done=False), name="queue_item_open_rank_idx"),
            models.Index(fields=["review"], name="queue_item_review_idx"),
        ]


class Assignment(models.Model):
    """A review handed to one analyst in one queue; it lapses at ``expires_at`` if not labelled."""

    queue = models.ForeignKey(LabellingQueue, on_delete=models.CASCADE, related_name="assignments")
    review = models.ForeignKey("reviews.Review", on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    assigned_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    skipped = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue", "review", "user"], name="assignment_unique_per_user"),
        ]
        indexes = [
            models.Index(fields=["queue", "review"], name="assignment_queue_review_idx"),
            models.Index(fields=["user", "completed_at"], name="assignment_user_open_idx"),
            models.Index(
                fields=["queue", "user", "-assigned_at"],
                condition=Q(completed_at__isnull=True),
                name="assignment_queue_user_open_idx",
            ),
        ]

    @property
    def is_open(self) -> bool:
        return self.completed_at is None


class Annotation(models.Model):
    """One analyst's label for one review."""

    review = models.ForeignKey("reviews.Review", on_delete=models.CASCADE, related_name="annotations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotations")
    queue = models.ForeignKey(LabellingQueue, null=True, blank=True, on_delete=models.SET_NULL)
    label = models.SmallIntegerField(choices=Label.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "user"], name="annotation_unique_per_user"),
            models.CheckConstraint(condition=Q(label__in=[0, 1]), name="annotation_label_valid"),
        ]
        indexes = [
            models.Index(fields=["user", "created_at"], name="annotation_user_day_idx"),
            models.Index(fields=["queue", "user", "-created_at"], name="annotation_queue_user_idx"),
        ]


class Resolution(models.Model):
    """The one label a review ends up with, and why."""

    review = models.OneToOneField("reviews.Review", on_delete=models.CASCADE, related_name="resolution")
    label = models.SmallIntegerField(choices=Label.choices)
    method = models.CharField(max_length=16, choices=ResolutionMethod.choices)
    reason = models.TextField(blank=True)
    settled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(label__in=[0, 1]), name="resolution_label_valid")]
        indexes = [models.Index(fields=["method", "label"], name="resolution_method_idx")]


class LabellingPreference(models.Model):
    """How one analyst likes the labelling page: with the model's suggestion or without (against anchoring)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="labelling_preference")
    show_suggestion = models.BooleanField(default=True)


class NoiseDetection(Job):
    """Label noise found in a snapshot (one split or all) or an import, from out-of-sample probabilities.

    Each labelled review is scored by a TF-IDF model fitted on the other folds (workers/ml/noise.py);
    cleanlab's confident learning flags the labels that look wrong and estimates how many are.
    """

    snapshot = models.ForeignKey("reviews.DatasetSnapshot", null=True, blank=True, on_delete=models.CASCADE)
    split = models.CharField(max_length=16, choices=Split.choices, blank=True, help_text="Empty: every split.")
    import_job = models.ForeignKey("reviews.ImportJob", null=True, blank=True, on_delete=models.CASCADE)
    folds = models.PositiveSmallIntegerField(default=5)
    repeats = models.PositiveSmallIntegerField(
        default=3, help_text="Seeded k-fold splits whose out-of-sample probabilities are averaged."
    )
    ngram_max = models.PositiveSmallIntegerField(default=2, help_text="The longest word n-gram of the fold models.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # Progress: fold models scored of all (folds x repeats).
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    reviews = models.PositiveIntegerField(default=0, help_text="Labelled reviews checked.")
    flagged = models.PositiveIntegerField(default=0, help_text="Reviews find_label_issues flagged.")
    estimated_issues = models.PositiveIntegerField(
        null=True, blank=True, help_text="How many labels confident learning estimates are wrong."
    )
    out_of_sample_accuracy = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(snapshot__isnull=False) & Q(import_job__isnull=True))
                | (Q(snapshot__isnull=True) & Q(import_job__isnull=False) & Q(split="")),
                name="noise_detection_one_scope",
            ),
        ]

    def __str__(self) -> str:
        return f"Label-noise detection {self.pk} of {self.scope_label}"

    @property
    def scope_label(self) -> str:
        if self.snapshot_id is not None:
            split = f"{self.split} split" if self.split else "all splits"
            return f"snapshot {self.snapshot_id} ({split})"
        return f"import {self.import_job_id}"

    @property
    def estimated_share(self) -> float | None:
        if self.estimated_issues is None or not self.reviews:
            return None
        return self.estimated_issues / self.reviews


class NoiseScore(models.Model):
    """One review's out-of-sample verdict in a detection: the label checked, its quality, flagged or not."""

    detection = models.ForeignKey(NoiseDetection, on_delete=models.CASCADE, related_name="scores")
    review = models.ForeignKey("reviews.Review", on_delete=models.CASCADE, related_name="noise_scores")
    label = models.SmallIntegerField(choices=Label.choices, help_text="The label the detection checked.")
    quality = models.FloatField(help_text="Out-of-sample probability of the label (cleanlab's self-confidence).")
    prob_positive = models.FloatField()
    is_issue = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["detection", "review"], name="noise_score_unique_review")]
        indexes = [models.Index(fields=["review", "detection"], name="noise_score_review_idx")]
