"""The labelling API's request and response bodies."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from apps.labelling.choices import QueuePool, QueueStrategy
from apps.labelling.models import Annotation, Assignment, LabellingQueue, Resolution
from apps.labelling.schema import (
    LABEL_SCHEMA,
    extend_schema_field,
)
from apps.labelling.selectors import (
    queue_progress,
)
from apps.labelling.errors import InvalidLabel, QueueConfigError
from apps.labelling.resolutions import REASON_MAX_LENGTH, parse_label
from apps.labelling.services import MAX_OVERLAP, queue_create, queue_update
from apps.reviews.uploads import FORMATS
from apps.reviews.choices import Label, LabelSource
from apps.reviews.models import DatasetSnapshot, ImportJob, Review
from apps.reviews.snapshots import MAX_SEED


@extend_schema_field(LABEL_SCHEMA)
class LabelField(serializers.Field):
    """``"positive"`` or ``"negative"`` (1 or 0 are accepted too); written as the word."""

    default_error_messages = {
        "required": "Give the label: positive or negative.",
        "null": "Give the label: positive or negative, not null.",
    }

    def to_internal_value(self, data: Any) -> int:
        try:
            return parse_label(data)
        except InvalidLabel as error:
            raise serializers.ValidationError(error.message) from None

    def to_representation(self, value: int) -> str:
        return str(Label(value).label)


class ResolutionSerializer(serializers.ModelSerializer):
    label = LabelField()  # type: ignore[assignment]  # a field named "label" shadows Field.label in the stubs
    # Null unless an ML admin settled it (gold, unanimous and majority resolutions settle themselves).
    settled_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Resolution
        fields = ["label", "method", "reason", "settled_by", "updated_at"]


class QueueProgressSerializer(serializers.Serializer):
    reviews = serializers.IntegerField()
    done = serializers.IntegerField(help_text="Reviews with all the labels the queue asks for, or resolved.")
    remaining = serializers.IntegerField()
    labels = serializers.IntegerField()
    resolved = serializers.IntegerField()
    conflicts = serializers.IntegerField()
    skipped = serializers.IntegerField()
    in_progress = serializers.IntegerField(help_text="Reviews held by an analyst right now.")


class QueueSerializer(serializers.ModelSerializer):
    annotators = serializers.SlugRelatedField(
        slug_field="username", many=True, required=False, queryset=get_user_model().objects.filter(is_active=True)
    )
    pool = serializers.ChoiceField(choices=QueuePool.choices, default=QueuePool.UNLABELLED)
    strategy = serializers.ChoiceField(choices=QueueStrategy.choices, default=QueueStrategy.RANDOM)
    overlap = serializers.IntegerField(min_value=1, max_value=MAX_OVERLAP, default=1)
    pool_snapshot = serializers.PrimaryKeyRelatedField(
        queryset=DatasetSnapshot.objects.all(), required=False, allow_null=True, default=None
    )
    pool_import = serializers.PrimaryKeyRelatedField(
        queryset=ImportJob.objects.all(), required=False, allow_null=True, default=None
    )
    progress = serializers.SerializerMethodField()

    class Meta:
        model = LabellingQueue
        fields = [
            "id",
            "name",
            "pool",
            "pool_snapshot",
            "pool_split",
            "pool_import",
            "strategy",
            "overlap",
            "annotators",
            "is_active",
            "created_at",
            "ordered_at",
            "ordered_with",
            "progress",
        ]
        read_only_fields = ["created_at", "ordered_at", "ordered_with"]
        # The service checks names, with a message that says what to do.
        extra_kwargs: dict[str, dict[str, Any]] = {"name": {"validators": []}}

    @extend_schema_field(QueueProgressSerializer)
    def get_progress(self, queue: LabellingQueue) -> dict[str, Any]:
        progress = queue_progress(queue=queue)
        return {
            "reviews": progress.reviews,
            "done": progress.done,
            "remaining": progress.remaining,
            "labels": progress.labels,
            "resolved": progress.resolved,
            "conflicts": progress.conflicts,
            "skipped": progress.skipped,
            "in_progress": progress.holds,
        }

    def create(self, validated_data: dict[str, Any]) -> LabellingQueue:
        try:
            queue, _ = queue_create(
                name=validated_data["name"],
                pool=validated_data["pool"],
                strategy=validated_data["strategy"],
                overlap=validated_data["overlap"],
                annotators=validated_data.get("annotators", []),
                pool_snapshot=validated_data.get("pool_snapshot"),
                pool_split=validated_data.get("pool_split", ""),
                pool_import=validated_data.get("pool_import"),
                created_by=self.context["request"].user,
            )
        except QueueConfigError as error:
            raise ValidationError(error.errors) from None
        return queue

    def update(self, queue: LabellingQueue, validated_data: dict[str, Any]) -> LabellingQueue:
        fixed = [name for name in ("pool", "pool_snapshot", "pool_split", "pool_import") if name in self.initial_data]
        if fixed:
            raise ValidationError({name: "A queue's pool cannot change; make a new queue instead." for name in fixed})
        try:
            queue, _ = queue_update(
                queue=queue,
                name=validated_data.get("name"),
                strategy=validated_data.get("strategy") if "strategy" in self.initial_data else None,
                overlap=validated_data.get("overlap") if "overlap" in self.initial_data else None,
                annotators=validated_data.get("annotators"),
                is_active=validated_data.get("is_active"),
            )
        except QueueConfigError as error:
            raise ValidationError(error.errors) from None
        return queue


class AnalystProgressSerializer(serializers.Serializer):
    username = serializers.CharField()
    labels = serializers.IntegerField()
    today = serializers.IntegerField()
    skipped = serializers.IntegerField()
    in_progress = serializers.IntegerField(source="holding")
    gold_labels = serializers.IntegerField()
    gold_correct = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)


class ReviewSerializer(serializers.ModelSerializer):
    gold_label = LabelField(allow_null=True)

    class Meta:
        model = Review
        fields = ["id", "text", "source", "external_id", "gold_label"]


class SuggestionSerializer(serializers.Serializer):
    label = LabelField()  # type: ignore[assignment]  # a field named "label" shadows Field.label in the stubs
    confidence = serializers.FloatField()
    model_version = serializers.IntegerField()


class AssignmentSerializer(serializers.ModelSerializer):
    review = ReviewSerializer()
    suggestion = serializers.SerializerMethodField(
        help_text="The current model's latest batch prediction of the review; null when there is none or you hide it."
    )

    class Meta:
        model = Assignment
        fields = ["id", "queue", "review", "assigned_at", "expires_at", "suggestion"]

    @extend_schema_field(SuggestionSerializer(allow_null=True))
    def get_suggestion(self, assignment: Assignment) -> dict[str, Any] | None:
        suggestion = self.context.get("suggestion")
        if suggestion is None:
            return None
        return {"label": suggestion.label, "confidence": suggestion.confidence, "model_version": suggestion.model_version}


class AnnotationSerializer(serializers.ModelSerializer):
    label = LabelField()  # type: ignore[assignment]  # a field named "label" shadows Field.label in the stubs
    annotator: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        source="user", slug_field="username", read_only=True
    )
    resolution = serializers.SerializerMethodField()

    class Meta:
        model = Annotation
        fields = ["id", "review", "label", "annotator", "queue", "created_at", "resolution"]

    @extend_schema_field(ResolutionSerializer(allow_null=True))
    def get_resolution(self, annotation: Annotation) -> dict[str, Any] | None:
        resolution = getattr(annotation.review, "resolution", None)
        return ResolutionSerializer(resolution).data if resolution is not None else None


class LabelInput(serializers.Serializer):
    review = serializers.IntegerField(min_value=1)
    label = LabelField()  # type: ignore[assignment]  # a field named "label" shadows Field.label in the stubs


class SkipInput(serializers.Serializer):
    review = serializers.IntegerField(min_value=1)


class SettleInput(serializers.Serializer):
    label = LabelField()  # type: ignore[assignment]  # a field named "label" shadows Field.label in the stubs
    reason = serializers.CharField(max_length=REASON_MAX_LENGTH)


class AnnotatorLabelSerializer(serializers.Serializer):
    annotator = serializers.CharField()
    label = LabelField()  # type: ignore[assignment]  # a field named "label" shadows Field.label in the stubs


class ConflictSerializer(serializers.Serializer):
    review = ReviewSerializer()
    labels = serializers.SerializerMethodField()
    reason = serializers.CharField()

    @extend_schema_field(AnnotatorLabelSerializer(many=True))
    def get_labels(self, conflict: Any) -> list[dict[str, str]]:
        return [{"annotator": username, "label": Label(label).label} for username, label in conflict.labels]


class UploadInput(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    file_format = serializers.ChoiceField(choices=list(FORMATS), required=False, allow_blank=True)
    source_name = serializers.CharField(required=False, allow_blank=True, max_length=64)


class SnapshotInput(serializers.Serializer):
    label_source = serializers.ChoiceField(
        choices=[LabelSource.HUMAN.value, LabelSource.GOLD_AND_HUMAN.value], default=LabelSource.GOLD_AND_HUMAN.value
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    seed = serializers.IntegerField(min_value=0, max_value=MAX_SEED, default=42)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class NextSerializer(serializers.Serializer):
    assignment = AssignmentSerializer(allow_null=True, help_text="The review to label now; null when none is left for you.")
    labels_today = serializers.IntegerField()


class LabelledSerializer(serializers.Serializer):
    annotation = AnnotationSerializer()
    resolution = ResolutionSerializer(allow_null=True)
    conflict = serializers.BooleanField(help_text="All the labels are in but disagree: an ML admin settles the review.")
    next = AssignmentSerializer(allow_null=True)
    labels_today = serializers.IntegerField()


class ReorderSerializer(serializers.Serializer):
    reviews = serializers.IntegerField()
    predicted = serializers.IntegerField()
    done = serializers.IntegerField()
    model_version = serializers.IntegerField(allow_null=True)
    summary = serializers.CharField()


class ProgressSerializer(serializers.Serializer):
    queue = serializers.IntegerField()
    progress = QueueProgressSerializer()
    analysts = AnalystProgressSerializer(many=True)


class SettledSerializer(serializers.Serializer):
    review = serializers.IntegerField()
    resolution = ResolutionSerializer()


class PairSerializer(serializers.Serializer):
    analysts = serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2)
    reviews = serializers.IntegerField()
    agreed = serializers.IntegerField()
    percent_agreement = serializers.FloatField()
    kappa = serializers.FloatField(allow_null=True, help_text="Cohen's kappa; null when both gave one label only.")


class GoldAccuracySerializer(serializers.Serializer):
    analyst = serializers.CharField()
    labels = serializers.IntegerField()
    correct = serializers.IntegerField()
    accuracy = serializers.FloatField()


class AgreementSerializer(serializers.Serializer):
    reviews = serializers.IntegerField(help_text="Reviews with labels from two analysts or more.")
    label_pairs = serializers.IntegerField()
    percent_agreement = serializers.FloatField(allow_null=True)
    kappa = serializers.FloatField(allow_null=True, help_text="The mean of the pairwise Cohen's kappas.")
    pairs = PairSerializer(many=True)
    gold_accuracy = GoldAccuracySerializer(many=True)


class UploadedSerializer(serializers.Serializer):
    import_job = serializers.IntegerField()
    source_name = serializers.CharField()
    rows_read = serializers.IntegerField()
    rows_created = serializers.IntegerField()
    rows_existing = serializers.IntegerField()


class SnapshotMadeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    label_source = serializers.CharField()
    content_hash = serializers.CharField()
    train = serializers.IntegerField()
    validation = serializers.IntegerField()
    test = serializers.IntegerField()
