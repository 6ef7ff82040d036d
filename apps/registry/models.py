from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.common.models import Job
from apps.training.choices import ModelKind
from apps.training.models import MetricsMixin


class ModelVersion(models.Model):
    """A trained model on disk (its artifact folder) and what it was trained on."""

    training_run = models.OneToOneField(
        "training.TrainingRun", null=True, blank=True, on_delete=models.PROTECT, related_name="model_version"
    )
    kind = models.CharField(max_length=16, choices=ModelKind.choices)
    base_model = models.CharField(max_length=500, blank=True)
    snapshot = models.ForeignKey("reviews.DatasetSnapshot", null=True, blank=True, on_delete=models.PROTECT)
    artifact_path = models.CharField(max_length=1024, help_text="Folder under ARTIFACT_ROOT.")
    artifact_size = models.PositiveBigIntegerField(default=0)
    manifest = models.JSONField(default=dict)
    test_accuracy = models.FloatField(null=True, blank=True)
    test_f1 = models.FloatField(null=True, blank=True)
    is_current = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # An ensemble's members, in the order of its weights (the manifest holds the same, with the weights).
    members = models.ManyToManyField(
        "self", through="EnsembleMember", through_fields=("ensemble", "member"), symmetrical=False, related_name="ensembles"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # "Exactly one current" is held by the database, not by convention.
            models.UniqueConstraint(fields=["is_current"], condition=Q(is_current=True), name="model_version_one_current"),
        ]

    def __str__(self) -> str:
        return f"v{self.pk} ({self.kind})"


class Promotion(models.Model):
    """One change of the current version: a promotion or a rollback."""

    class Action(models.TextChoices):
        PROMOTE = "promote", "Promote"
        ROLLBACK = "rollback", "Roll back"

    action = models.CharField(max_length=16, choices=Action.choices, default=Action.PROMOTE)
    from_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="promotions_from"
    )
    to_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="promotions_to")
    promoted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField(blank=True)
    forced = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]


class EnsembleMember(models.Model):
    """One member of an ensemble version, with the weight the ensemble gives its positive-class log-odds."""

    ensemble = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="ensemble_memberships")
    position = models.PositiveSmallIntegerField()
    weight = models.FloatField()

    class Meta:
        ordering = ["ensemble", "position"]
        constraints = [
            models.UniqueConstraint(fields=["ensemble", "position"], name="ensemble_member_unique_position"),
            models.UniqueConstraint(fields=["ensemble", "member"], name="ensemble_member_unique_member"),
        ]


class EnsembleBuild(Job, MetricsMixin):
    """Building an ensemble version from versions trained on one snapshot: a kind of job (apps.registry.ensembles).

    The metrics are the ensemble's on the snapshot's test split; ``metrics`` also holds each member's on the
    validation and test splits and the weights fitted on validation.
    """

    snapshot = models.ForeignKey("reviews.DatasetSnapshot", on_delete=models.PROTECT, related_name="ensemble_builds")
    members = models.ManyToManyField(ModelVersion, related_name="ensemble_builds")
    model_version = models.OneToOneField(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="ensemble_build"
    )
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    device = models.CharField(max_length=100, blank=True)
    processed = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Ensemble build {self.pk}"


class HubJob(Job):
    """Publishing a version to the Hugging Face Hub, or registering a model trained elsewhere: a kind of job
    (apps.registry.hub). Publishing runs on queue ``default``; registering scores the model on the snapshot's
    test split, so it runs on ``gpu``."""

    class Action(models.TextChoices):
        PUBLISH = "publish", "Publish a version to the Hub"
        REGISTER = "register", "Register a model trained elsewhere"

    action = models.CharField(max_length=16, choices=Action.choices)
    # Publish: the version sent. Register: the version created, once the job has succeeded.
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="hub_jobs"
    )
    repo_id = models.CharField("Hub repository", max_length=200, blank=True, help_text="owner/name on the Hub.")
    private = models.BooleanField(default=True, help_text="Only the owner (and their organisation) sees a private repository.")
    license = models.CharField(max_length=64, blank=True, default="apache-2.0")
    source = models.CharField(
        max_length=500, blank=True, help_text="Register: a Hub model id (owner/name) or a folder on the workers."
    )
    revision = models.CharField(max_length=100, blank=True, help_text="Register: a branch, tag or commit of the Hub model.")
    snapshot = models.ForeignKey(
        "reviews.DatasetSnapshot", null=True, blank=True, on_delete=models.PROTECT, related_name="hub_jobs"
    )
    result_url = models.CharField(max_length=500, blank=True)
    commit_oid = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "Hugging Face Hub job"

    def __str__(self) -> str:
        return f"Hub {self.action} {self.pk}"
