from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.common.models import Job
from apps.reviews.choices import Label
from apps.training.choices import TRAINED_KINDS, EvaluationSplit, ModelKind, Truncation
from workers.ml.config import TFIDF_SETTINGS, TRANSFORMER_SETTINGS

DEFAULT_BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class MetricsMixin(models.Model):
    """Test-split (or evaluated-split) metrics, denormalised for sorting next to the full JSON."""

    accuracy = models.FloatField(null=True, blank=True)
    precision = models.FloatField(null=True, blank=True)
    recall = models.FloatField(null=True, blank=True)
    f1 = models.FloatField(null=True, blank=True, db_index=True)
    f1_macro = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    confusion_matrix = models.JSONField(
        default=list, blank=True, help_text="[[true neg, false pos], [false neg, true pos]] (rows: gold, columns: predicted)."
    )

    class Meta:
        abstract = True


class TrainingRun(Job, MetricsMixin):
    kind = models.CharField(max_length=16, choices=TRAINED_KINDS, default=ModelKind.TRANSFORMER)
    base_model = models.CharField(max_length=500, default=DEFAULT_BASE_MODEL)
    snapshot = models.ForeignKey("reviews.DatasetSnapshot", on_delete=models.PROTECT, related_name="training_runs")
    learning_rate = models.FloatField(default=2e-5)
    batch_size = models.PositiveIntegerField(default=16)
    epochs = models.PositiveIntegerField(default=2)
    weight_decay = models.FloatField(default=0.01)
    max_length = models.PositiveIntegerField(default=256)
    truncation = models.CharField(max_length=16, choices=Truncation.choices, default=Truncation.HEAD)
    lowercase = models.BooleanField(default=True)
    seed = models.PositiveIntegerField(default=42)
    subset_size = models.PositiveIntegerField(null=True, blank=True, help_text="Train on this many reviews only.")
    eval_subset_size = models.PositiveIntegerField(
        null=True, blank=True, help_text="Score only this many validation and test reviews (a quick trial)."
    )
    early_stopping_patience = models.PositiveIntegerField(null=True, blank=True)
    warmup_ratio = models.FloatField(default=0.0)
    # Domain adaptation (workers/ml/domain.py): masked-language modelling on unlabelled reviews first.
    mlm_steps = models.PositiveIntegerField(
        "masked-language-modelling steps",
        default=0,
        help_text="Continue pre-training the base model for this many steps on unlabelled reviews before "
        "fine-tuning (domain adaptation); 0: off.",
    )
    mlm_reviews = models.PositiveIntegerField(
        "unlabelled reviews for adaptation",
        null=True,
        blank=True,
        help_text="Read at most this many unlabelled reviews (a seeded sample); empty: as many as the steps see.",
    )
    # The TF-IDF kind's own settings (workers/ml/tfidf.py); transformer runs ignore them.
    tfidf_ngram_max = models.PositiveSmallIntegerField(
        "longest n-gram", default=3, help_text="Word n-grams from 1 up to this many words become features."
    )
    tfidf_min_df = models.PositiveIntegerField(
        "min_df", default=2, help_text="Keep only n-grams found in at least this many training reviews."
    )
    tfidf_c = models.FloatField(
        "C",
        null=True,
        blank=True,
        default=16.0,
        help_text="Inverse regularisation strength of the logistic regression; empty: chosen on the validation split.",
    )
    tfidf_nb_weighting = models.BooleanField(
        "naive-Bayes weighting",
        default=True,
        help_text="Weigh n-grams by their log-count ratio between positive and negative reviews (NBSVM); off: idf.",
    )
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    device = models.CharField(max_length=100, blank=True)
    current_step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    eta_seconds = models.FloatField(null=True, blank=True)
    # What the run does now once the optimiser steps are done: scoring the validation or the test split.
    phase = models.CharField(max_length=16, blank=True)
    phase_done = models.PositiveIntegerField(default=0)
    phase_total = models.PositiveIntegerField(default=0)
    phase_eta_seconds = models.FloatField(null=True, blank=True)
    train_samples_per_second = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["kind", "status"], name="training_run_kind_status_idx")]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.kind}, {self.base_model if self.kind == ModelKind.TRANSFORMER else 'tfidf'})"

    def model_settings(self) -> list[tuple[str, Any]]:
        """The settings this run's kind reads, by name: a TF-IDF run has no learning rate or base model."""
        names = TRANSFORMER_SETTINGS if self.kind == ModelKind.TRANSFORMER else TFIDF_SETTINGS
        return [(name, getattr(self, name)) for name in names]

    @property
    def progress_percent(self) -> float:
        if not self.total_steps:
            return 100.0 if self.status == "succeeded" else 0.0
        return min(100.0, 100.0 * self.current_step / self.total_steps)

    @property
    def scoring(self) -> str:
        """What a running run scores now ("the validation split", "the test split"), or "" while it trains."""
        if self.status != "running" or self.phase not in ("validation", "test") or not self.phase_total:
            return ""
        return f"the {self.phase} split"

    @property
    def adapting(self) -> bool:
        """Whether a running run is in its domain-adaptation (masked-language modelling) phase."""
        return self.status == "running" and self.phase == "adaptation" and bool(self.phase_total)

    @property
    def scoring_percent(self) -> float:
        return min(100.0, 100.0 * self.phase_done / self.phase_total) if self.phase_total else 0.0


class EpochMetric(models.Model):
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="epoch_metrics")
    epoch = models.PositiveIntegerField()
    step = models.PositiveIntegerField(default=0)
    train_loss = models.FloatField(null=True, blank=True)
    validation_loss = models.FloatField(null=True, blank=True)
    validation_accuracy = models.FloatField(null=True, blank=True)
    validation_f1 = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "epoch"]
        constraints = [models.UniqueConstraint(fields=["run", "epoch"], name="epoch_metric_unique_epoch")]


class EvaluationRun(Job, MetricsMixin):
    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.CASCADE, related_name="evaluations")
    snapshot = models.ForeignKey(
        "reviews.DatasetSnapshot", null=True, blank=True, on_delete=models.PROTECT, related_name="evaluation_runs"
    )
    split = models.CharField(max_length=16, choices=EvaluationSplit.choices, default=EvaluationSplit.TEST)
    review_import = models.ForeignKey(
        "reviews.ImportJob",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="evaluation_runs",
        help_text="With split 'import': the import whose labelled reviews are evaluated.",
    )
    dataset = models.ForeignKey(
        "training.EvaluationDataset",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="evaluation_runs",
        help_text="With split 'file': the uploaded labelled file evaluated.",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    device = models.CharField(max_length=100, blank=True)
    processed = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    slices = models.JSONField(
        default=list,
        blank=True,
        help_text="Counts and accuracy by review length, star rating, source and origin split (workers/ml/metrics.py).",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Evaluation {self.pk} of version {self.model_version_id} on {self.split}"

    @property
    def data_description(self) -> str:
        """What was evaluated, in words: "the test split of <snapshot>", "import 4 (imdb)", "file reviews.csv"."""
        if self.split == EvaluationSplit.HUMAN:
            return "the human-labelled reviews"
        if self.split == EvaluationSplit.IMPORT:
            job = self.review_import
            return f"the labelled reviews of import {self.review_import_id}" + (f" ({job.source_name})" if job else "")
        if self.split == EvaluationSplit.FILE:
            return f"the uploaded file {self.dataset.filename}" if self.dataset else "an uploaded file"
        return f"the {self.split} split" + (f" of {self.snapshot.name}" if self.snapshot else "")


class EvaluationDataset(models.Model):
    """A labelled file uploaded to evaluate models on, kept apart from the data models train on.

    Its reviews are stored under a source of their own with no gold label (the labels are the items'),
    so a snapshot of the gold labels never takes them into a training split; the labels stay here.
    """

    name = models.CharField(max_length=200)
    filename = models.CharField(max_length=255)
    source_name = models.CharField(max_length=64, help_text="The Review.source its reviews are stored under.")
    review_count = models.PositiveIntegerField(default=0)
    positive_count = models.PositiveIntegerField(default=0)
    negative_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.review_count:,} reviews)"


class EvaluationDatasetItem(models.Model):
    dataset = models.ForeignKey(EvaluationDataset, on_delete=models.CASCADE, related_name="items")
    review = models.ForeignKey("reviews.Review", on_delete=models.PROTECT, related_name="evaluation_items")
    label = models.SmallIntegerField(choices=Label.choices)
    position = models.PositiveIntegerField(help_text="The review's place in the file.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "review"], name="evaluation_item_unique_review"),
        ]
        indexes = [models.Index(fields=["dataset", "position"], name="evaluation_item_position_idx")]


class RunPrediction(models.Model):
    """What a training run's test evaluation, or an evaluation run, predicted for one review."""

    training_run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.CASCADE, related_name="predictions"
    )
    evaluation_run = models.ForeignKey(
        EvaluationRun, null=True, blank=True, on_delete=models.CASCADE, related_name="predictions"
    )
    review = models.ForeignKey("reviews.Review", on_delete=models.CASCADE, related_name="run_predictions")
    gold_label = models.SmallIntegerField(choices=Label.choices)
    predicted_label = models.SmallIntegerField(choices=Label.choices)
    confidence = models.FloatField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(training_run__isnull=False, evaluation_run__isnull=True)
                | Q(training_run__isnull=True, evaluation_run__isnull=False),
                name="run_prediction_one_owner",
            )
        ]
        indexes = [
            models.Index(fields=["training_run", "gold_label", "predicted_label"], name="run_pred_train_cell_idx"),
            models.Index(fields=["evaluation_run", "gold_label", "predicted_label"], name="run_pred_eval_cell_idx"),
            models.Index(fields=["review"], name="run_pred_review_idx"),
        ]
