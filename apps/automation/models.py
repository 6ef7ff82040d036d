"""Retraining policies (what an ML admin asks the loop to do) and the cycles that carry them out."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.automation.choices import ComparisonMetric, CycleStage, CycleTrigger
from apps.common.choices import JobStatus
from apps.common.models import Job
from apps.reviews.choices import LabelSource, Split
from apps.training.choices import TRAINED_KINDS, ModelKind


class TrainingPolicy(models.Model):
    """How the platform retrains itself: what to train on which labels, when, and when the result replaces the current model."""

    name = models.CharField(max_length=200, unique=True)
    is_active = models.BooleanField(default=True, help_text="An inactive policy starts no cycle, by any trigger.")
    kind = models.CharField(max_length=16, choices=TRAINED_KINDS, default=ModelKind.TFIDF)
    hyperparameters = models.JSONField(
        default=dict,
        blank=True,
        help_text='Training settings that differ from their defaults, e.g. {"tfidf_c": 8.0} or {"epochs": 3}.',
    )
    label_source = models.CharField(max_length=16, choices=LabelSource.choices, default=LabelSource.GOLD_AND_HUMAN)
    snapshot_seed = models.PositiveIntegerField(default=42, help_text="The seed of each cycle's snapshot split.")
    min_new_labels = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Start a cycle once this many reviews got a human resolution since the current model's snapshot "
        "(and since this policy's last cycle). Empty: labels start no cycle.",
    )
    schedule = models.CharField(
        max_length=100,
        blank=True,
        help_text='Also start a cycle on this cron schedule, "minute hour day-of-month month day-of-week" in '
        'TIME_ZONE, e.g. "0 3 * * *" for 03:00 every day. Empty: no schedule.',
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+"
    )
    benchmark_snapshot = models.ForeignKey(
        "reviews.DatasetSnapshot",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The snapshot whose split both the candidate and the current model are scored on.",
    )
    benchmark_split = models.CharField(max_length=16, choices=Split.choices, default=Split.TEST)
    metric = models.CharField(max_length=16, choices=ComparisonMetric.choices, default=ComparisonMetric.ACCURACY)
    min_improvement = models.FloatField(
        default=0.0,
        help_text="Promote only when the candidate beats the current model on the metric by at least this much "
        "(0.01 = one point of accuracy); with 0 it must simply be better.",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "training policies"
        constraints = [
            models.CheckConstraint(condition=Q(min_improvement__gte=0), name="training_policy_margin_not_negative"),
            models.CheckConstraint(
                condition=Q(min_new_labels__isnull=True) | Q(min_new_labels__gte=1), name="training_policy_labels_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def triggers(self) -> str:
        """The policy's triggers in words."""
        parts = []
        if self.min_new_labels:
            parts.append(f"{self.min_new_labels:,} new labels")
        if self.schedule:
            parts.append(f"cron {self.schedule}")
        return " or ".join(parts) or "by hand only"


ACTIVE_STATUSES = [JobStatus.QUEUED, JobStatus.RUNNING]


class RetrainingCycle(Job):
    """One turn of the loop for a policy: snapshot -> train -> score candidate and current -> promote or not."""

    policy = models.ForeignKey(TrainingPolicy, on_delete=models.PROTECT, related_name="cycles")
    trigger = models.CharField(max_length=16, choices=CycleTrigger.choices)
    stage = models.CharField(max_length=16, choices=CycleStage.choices, default=CycleStage.WAITING)
    labels_added = models.PositiveIntegerField(
        default=0, help_text="Reviews resolved by people since the previous snapshot, when the cycle started."
    )
    baseline_version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The version that was current when the cycle started: the one the candidate must beat.",
    )  # fmt: skip
    snapshot = models.ForeignKey("reviews.DatasetSnapshot", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    training_run = models.ForeignKey("training.TrainingRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    candidate = models.ForeignKey("registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    candidate_evaluation = models.ForeignKey(
        "training.EvaluationRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    current_evaluation = models.ForeignKey(
        "training.EvaluationRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The rule as it was when the cycle ran (the policy may change later).
    metric = models.CharField(max_length=16, choices=ComparisonMetric.choices, default=ComparisonMetric.ACCURACY)
    min_improvement = models.FloatField(default=0.0)
    benchmark_reviews = models.PositiveIntegerField(
        default=0, help_text="Benchmark reviews both models were scored on (none of them seen in training by either)."
    )
    benchmark_excluded = models.PositiveIntegerField(
        default=0, help_text="Benchmark reviews left out because one of the models trained or validated on them."
    )
    candidate_metrics = models.JSONField(default=dict, blank=True)
    current_metrics = models.JSONField(default=dict, blank=True)
    promoted = models.BooleanField(default=False)
    decision = models.TextField(blank=True, help_text="Why the candidate was or was not promoted.")
    promotion = models.ForeignKey("registry.Promotion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    batch_jobs = models.JSONField(
        default=list, blank=True, help_text="Batch predictions of the new model that reorder the labelling queues."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Two triggers at the same moment (labels and the schedule, two web processes) start one cycle.
            models.UniqueConstraint(
                fields=["policy"], condition=Q(status__in=ACTIVE_STATUSES), name="retraining_cycle_one_active_per_policy"
            ),
        ]
        indexes = [models.Index(fields=["policy", "-created_at"], name="retraining_cycle_policy_idx")]

    def __str__(self) -> str:
        return f"Cycle {self.pk} of {self.policy.name if self.policy_id else 'a policy'}"

    @property
    def candidate_score(self) -> float | None:
        return self.candidate_metrics.get(self.metric)

    @property
    def current_score(self) -> float | None:
        return self.current_metrics.get(self.metric)

    @property
    def difference(self) -> float | None:
        if self.candidate_score is None or self.current_score is None:
            return None
        return self.candidate_score - self.current_score

    @property
    def difference_display(self) -> str:
        """The candidate's lead over the current model, signed ("+0.0123"), or "" when not both were scored."""
        return "" if self.difference is None else f"{self.difference:+.4f}"

    @property
    def outcome(self) -> str:
        """What the cycle came to, in words: the decision, or why it stopped."""
        if self.status in ACTIVE_STATUSES:
            return self.get_stage_display()
        if self.status == JobStatus.SUCCEEDED:
            return self.decision
        if self.status == JobStatus.CANCELLED:
            return "Cancelled; the current model stays."
        return f"Failed: {self.error} The current model stays."
