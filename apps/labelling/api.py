"""REST API for labelling, under ``/api/labelling/``: queues, the next review, labels, conflicts, agreement,
uploads, exports and snapshots of the labels.

Authentication is the platform's default (``Authorization: Token <key>`` or a session). Analysts (and
ML admins) work the queues they are listed on; everything else is for ML admins. Refusals are DRF
exceptions with a message that says why: 400 for a bad body (a label other than positive/negative, a
malformed upload), 403 for a review not assigned to you or a queue that does not list you, 409 for a
review already resolved or already labelled.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import Http404, StreamingHttpResponse
from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.roles import IsMlAdmin, is_analyst, is_ml_admin
from apps.labelling.choices import QueuePool, QueueStrategy
from apps.labelling.exports import export_filename, export_lines, export_rows
from apps.labelling.models import Annotation, Assignment, LabellingQueue, Resolution
from apps.labelling.ordering import queue_order_rebuild
from apps.labelling.selectors import (
    agreement_summary,
    analyst_progress,
    conflict_reviews,
    conflicts_for,
    page_extras,
    queue_list,
    queue_progress,
)
from apps.labelling.services import (
    MAX_OVERLAP,
    REASON_MAX_LENGTH,
    InvalidLabel,
    LabellingRefused,
    QueueConfigError,
    annotation_create,
    annotation_undo,
    assignment_next,
    assignment_skip,
    parse_label,
    queue_can_be_worked_by,
    queue_create,
    queue_update,
    resolution_settle,
)
from apps.labelling.schema import (
    LABEL_SCHEMA,
    QUEUE_PARAMETER,
    OpenApiResponse,
    OpenApiTypes,
    extend_schema,
    extend_schema_field,
)
from apps.labelling.uploads import FORMATS, UploadError, review_upload
from apps.reviews.choices import Label, LabelSource
from apps.reviews.models import DatasetSnapshot, ImportJob, Review
from apps.reviews.snapshots import MAX_SEED, SnapshotError, snapshot_create

try:
    from drf_spectacular.utils import OpenApiExample, extend_schema_view
except ImportError:  # pragma: no cover - as in apps.labelling.schema: without drf-spectacular, no annotations

    def OpenApiExample(*args: Any, **kwargs: Any) -> None:  # type: ignore[no-redef]  # noqa: N802
        return None

    def extend_schema_view(**kwargs: Any) -> Any:  # type: ignore[no-redef]
        return lambda view: view


# --- Examples for the OpenAPI schema ---------------------------------------------------------------------

QUEUE_PROGRESS_EXAMPLE = {
    "reviews": 2000,
    "done": 412,
    "remaining": 1588,
    "labels": 851,
    "resolved": 398,
    "conflicts": 14,
    "skipped": 9,
    "in_progress": 2,
}
NEW_QUEUE_PROGRESS_EXAMPLE = {
    **QUEUE_PROGRESS_EXAMPLE,
    **dict.fromkeys(["done", "labels", "resolved", "conflicts", "skipped", "in_progress"], 0),
    "remaining": 2000,
}
QUEUE_EXAMPLE = {
    "id": 4,
    "name": "Uncertain reviews, May import",
    "pool": "import",
    "pool_snapshot": None,
    "pool_split": "",
    "pool_import": 12,
    "strategy": "uncertainty",
    "overlap": 2,
    "annotators": ["anna", "ben"],
    "is_active": True,
    "created_at": "2025-05-02T08:15:00Z",
    "ordered_at": "2025-05-02T11:40:03Z",
    "ordered_with": 9,
    "progress": QUEUE_PROGRESS_EXAMPLE,
}
LABELLING_REVIEW_EXAMPLE = {
    "id": 50231,
    "text": "I wanted to love it, and the first hour is gorgeous, but the second half drags and the ending falls flat.",
    "source": "upload",
    "external_id": "ticket-8812",
    "gold_label": None,
}
ASSIGNMENT_EXAMPLE = {
    "id": 7718,
    "queue": 4,
    "review": LABELLING_REVIEW_EXAMPLE,
    "assigned_at": "2025-05-02T12:00:41Z",
    "expires_at": "2025-05-02T12:30:41Z",
    "suggestion": {"label": "negative", "confidence": 0.5412, "model_version": 9},
}
NEXT_EXAMPLE = {"assignment": ASSIGNMENT_EXAMPLE, "labels_today": 57}
NOTHING_LEFT_EXAMPLE = {"assignment": None, "labels_today": 212}
RESOLUTION_EXAMPLE = {
    "label": "negative",
    "method": "unanimous",
    "reason": "",
    "settled_by": None,
    "updated_at": "2025-05-02T12:01:05Z",
}
ANNOTATION_EXAMPLE = {
    "id": 30512,
    "review": 50231,
    "label": "negative",
    "annotator": "anna",
    "queue": 4,
    "created_at": "2025-05-02T12:01:05Z",
    "resolution": RESOLUTION_EXAMPLE,
}
LABELLED_EXAMPLE = {
    "annotation": ANNOTATION_EXAMPLE,
    "resolution": RESOLUTION_EXAMPLE,
    "conflict": False,
    "next": {
        **ASSIGNMENT_EXAMPLE,
        "id": 7725,
        "review": {
            **LABELLING_REVIEW_EXAMPLE,
            "id": 50244,
            "text": "Not a masterpiece, but funny from start to finish; the kids loved it.",
            "external_id": "ticket-8830",
        },
        "assigned_at": "2025-05-02T12:01:05Z",
        "expires_at": "2025-05-02T12:31:05Z",
        "suggestion": {"label": "positive", "confidence": 0.6127, "model_version": 9},
    },
    "labels_today": 58,
}
CONFLICT_EXAMPLE = {
    "review": {
        **LABELLING_REVIEW_EXAMPLE,
        "id": 48807,
        "text": "Oh great, another two hours of explosions and no plot. Exactly what I was hoping for.",
        "external_id": "ticket-8790",
    },
    "labels": [{"annotator": "anna", "label": "negative"}, {"annotator": "ben", "label": "positive"}],
    "reason": "The annotators are split evenly (1 positive, 1 negative).",
}
SETTLED_EXAMPLE = {
    "review": 48807,
    "resolution": {
        "label": "negative",
        "method": "settled",
        "reason": "Sarcasm: the praise is ironic and the review complains about the plot.",
        "settled_by": "mladmin",
        "updated_at": "2025-05-02T14:20:11Z",
    },
}
EXPORT_CSV_EXAMPLE = (
    "review_id,source,external_id,text,label,annotator,labelled_at,queue,gold_label,resolution,"
    "resolution_method,resolution_reason,settled_by,resolved_at\r\n"
    '48807,upload,ticket-8790,"Oh great, another two hours of explosions and no plot. Exactly what I was hoping '
    'for.",negative,anna,2025-05-02T11:58:12Z,"Uncertain reviews, May import",,negative,settled,Sarcasm: the '
    "praise is ironic and the review complains about the plot.,mladmin,2025-05-02T14:20:11Z\r\n"
)
EXPORT_JSONL_EXAMPLE = (
    '{"review_id": 48807, "source": "upload", "external_id": "ticket-8790", "text": "Oh great, another two hours '
    'of explosions and no plot. Exactly what I was hoping for.", "label": "negative", "annotator": "anna", '
    '"labelled_at": "2025-05-02T11:58:12Z", "queue": "Uncertain reviews, May import", "gold_label": null, '
    '"resolution": "negative", "resolution_method": "settled", "resolution_reason": "Sarcasm: the praise is ironic '
    'and the review complains about the plot.", "settled_by": "mladmin", "resolved_at": "2025-05-02T14:20:11Z"}\n'
)

# --- Permissions and errors ------------------------------------------------------------------------------


class IsAnalyst(BasePermission):
    message = "Only analysts and ML admins may label: ask an administrator to add your account to the analyst group."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return is_analyst(request.user)


class Refused(APIException):
    """A labelling action the platform refuses, with the service's status (400, 403 or 409) and message."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "refused"
    default_detail = "The request was refused."

    def __init__(self, error: LabellingRefused) -> None:
        super().__init__(detail=error.message, code=error.code)
        self.status_code = error.http_status
        self.default_code = error.code


ANALYST = [IsAuthenticated, IsAnalyst]
ML_ADMIN = [IsAuthenticated, IsMlAdmin]


# --- Serializers -----------------------------------------------------------------------------------------


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
    label = LabelField()
    # Null unless an ML admin settled it (gold, unanimous and majority resolutions settle themselves).
    settled_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

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
        extra_kwargs = {"name": {"validators": []}}

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
    label = LabelField()
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
    label = LabelField()
    annotator = serializers.SlugRelatedField(source="user", slug_field="username", read_only=True)
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
    label = LabelField()


class SkipInput(serializers.Serializer):
    review = serializers.IntegerField(min_value=1)


class SettleInput(serializers.Serializer):
    label = LabelField()
    reason = serializers.CharField(max_length=REASON_MAX_LENGTH)


class AnnotatorLabelSerializer(serializers.Serializer):
    annotator = serializers.CharField()
    label = LabelField()


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


# --- Queues ----------------------------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(
        description=(
            "The labelling queues you are listed on, each with its progress; an ML admin sees every queue. "
            "Analysts and ML admins."
        ),
        examples=[OpenApiExample("A queue", value=QUEUE_EXAMPLE, response_only=True)],
    ),
    post=extend_schema(
        description=(
            "Make a queue over a pool of reviews (`unlabelled`, `snapshot_split` with `pool_snapshot` and "
            "`pool_split`, `import` with `pool_import`, or `all`), worked in the order of its `strategy` by the "
            "analysts in `annotators`, each review labelled by `overlap` of them. The queue is ordered at once: "
            "201 with the queue and its progress. ML admins only."
        ),
        examples=[
            OpenApiExample(
                "An import, most uncertain first",
                value={
                    "name": "Uncertain reviews, May import",
                    "pool": "import",
                    "pool_import": 12,
                    "strategy": "uncertainty",
                    "overlap": 2,
                    "annotators": ["anna", "ben"],
                },
                request_only=True,
            ),
            OpenApiExample(
                "A snapshot's test split",
                value={
                    "name": "Check the test split",
                    "pool": "snapshot_split",
                    "pool_snapshot": 3,
                    "pool_split": "test",
                    "strategy": "suspicious",
                    "annotators": ["anna"],
                },
                request_only=True,
            ),
            OpenApiExample(
                "Made",
                value={**QUEUE_EXAMPLE, "progress": NEW_QUEUE_PROGRESS_EXAMPLE},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    ),
)
class QueueListCreateView(generics.ListCreateAPIView):
    """GET: the queues you work (every queue for an ML admin). POST (ML admins): a new queue, ordered at once."""

    serializer_class = QueueSerializer

    def get_permissions(self) -> list[BasePermission]:
        classes = ML_ADMIN if self.request.method == "POST" else ANALYST
        return [permission() for permission in classes]

    def get_queryset(self) -> QuerySet[LabellingQueue]:
        return queue_list(user=self.request.user).prefetch_related("annotators")


@extend_schema_view(
    get=extend_schema(
        description="A queue you are listed on (any queue for an ML admin), with its progress. Analysts and ML admins.",
        examples=[OpenApiExample("A queue", value=QUEUE_EXAMPLE, response_only=True)],
    ),
    patch=extend_schema(
        description=(
            "Change a queue's name, strategy, overlap, analysts or `is_active` (an inactive queue hands out no "
            "review and is hidden from its analysts). Its pool cannot change: make a new queue instead. A new "
            "strategy or overlap orders the queue again. ML admins only."
        ),
        examples=[
            OpenApiExample(
                "Suspicious labels first, three labels a review",
                value={"strategy": "suspicious", "overlap": 3},
                request_only=True,
            ),
            OpenApiExample("Another analyst", value={"annotators": ["anna", "ben", "chloe"]}, request_only=True),
            OpenApiExample("Paused", value={"is_active": False}, request_only=True),
            OpenApiExample(
                "Changed", value={**QUEUE_EXAMPLE, "strategy": "suspicious", "overlap": 3}, response_only=True
            ),
        ],
    ),
)
class QueueDetailView(generics.RetrieveUpdateAPIView):
    """GET: a queue with its progress. PATCH (ML admins): its name, strategy, overlap, analysts or is_active."""

    serializer_class = QueueSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_permissions(self) -> list[BasePermission]:
        classes = ANALYST if self.request.method in ("GET", "HEAD", "OPTIONS") else ML_ADMIN
        return [permission() for permission in classes]

    def get_queryset(self) -> QuerySet[LabellingQueue]:
        return queue_list(user=self.request.user).prefetch_related("annotators")

    def get_object(self) -> LabellingQueue:
        try:
            return super().get_object()
        except Http404:
            # DRF's own 404 here says nothing at all.
            raise NotFound(f"There is no queue {self.kwargs['pk']} among your queues.") from None


def _queue_for(request: Request, pk: int) -> LabellingQueue:
    queue = queue_list(user=request.user).filter(pk=pk).first()
    if queue is None:
        raise NotFound(f"There is no queue {pk} among your queues.")
    return queue


class QueueReorderView(APIView):
    """POST (ML admins): recompute the queue's order from its pool and the current model's batch predictions."""

    permission_classes = ML_ADMIN

    @extend_schema(
        description=(
            "Order the queue again from its pool and the current model's latest batch predictions (most uncertain "
            "or most suspicious first, as its strategy says); reviews without a prediction come last, in random "
            "order. New reviews in the pool join the queue. ML admins only."
        ),
        request=None,
        responses=ReorderSerializer,
        examples=[
            OpenApiExample(
                "Ordered by model version 9",
                value={
                    "reviews": 2000,
                    "predicted": 1987,
                    "done": 412,
                    "model_version": 9,
                    "summary": (
                        "2,000 reviews ordered by the batch predictions of model version 9, which cover 1,987 of "
                        "them (the rest come last, in random order)."
                    ),
                },
                response_only=True,
            ),
            OpenApiExample(
                "No batch predictions",
                value={
                    "reviews": 2000,
                    "predicted": 0,
                    "done": 412,
                    "model_version": None,
                    "summary": "2,000 reviews in random order.",
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        order = queue_order_rebuild(queue=_queue_for(request, pk))
        return Response(
            {
                "reviews": order.reviews,
                "predicted": order.predicted,
                "done": order.done,
                "model_version": order.model_version.pk if order.model_version else None,
                "summary": order.summary,
            }
        )


class QueueProgressView(APIView):
    """GET: the queue's progress and each analyst's labels, skips, labels today and accuracy against gold."""

    permission_classes = ANALYST

    @extend_schema(
        description=(
            "The queue's progress and, for each analyst, labels given (in all and today), skips, reviews held now "
            "and accuracy against the gold labels. Analysts of the queue and ML admins."
        ),
        responses=ProgressSerializer,
        examples=[
            OpenApiExample(
                "Two analysts",
                value={
                    "queue": 4,
                    "progress": QUEUE_PROGRESS_EXAMPLE,
                    "analysts": [
                        {
                            "username": "anna",
                            "labels": 455,
                            "today": 57,
                            "skipped": 4,
                            "in_progress": 1,
                            "gold_labels": 40,
                            "gold_correct": 37,
                            "gold_accuracy": 0.925,
                        },
                        {
                            "username": "ben",
                            "labels": 396,
                            "today": 0,
                            "skipped": 5,
                            "in_progress": 1,
                            "gold_labels": 0,
                            "gold_correct": 0,
                            "gold_accuracy": None,
                        },
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request, pk: int) -> Response:
        queue = _queue_for(request, pk)
        if not is_ml_admin(request.user) and not queue_can_be_worked_by(queue, request.user):
            raise NotFound(f"There is no queue {pk} among your queues.")
        return Response(
            {
                "queue": queue.pk,
                "progress": QueueSerializer().get_progress(queue),
                "analysts": AnalystProgressSerializer(analyst_progress(queue=queue), many=True).data,
            }
        )


# --- Labelling -------------------------------------------------------------------------------------------


def _next_body(request: Request, queue: LabellingQueue) -> dict[str, Any]:
    assignment = assignment_next(queue=queue, user=request.user)
    extras = page_extras(user=request.user, review_id=assignment.review_id if assignment else None)
    context = {"suggestion": extras.suggestion}
    return {
        "assignment": AssignmentSerializer(assignment, context=context).data if assignment else None,
        "labels_today": extras.labels_today,
    }


class NextReviewView(APIView):
    """POST: the review to label now (your current one, or a new hold on the queue's next); null when none is left."""

    permission_classes = ANALYST

    @extend_schema(
        description=(
            "The review to label now: the one you already hold in this queue, or else a hold on the queue's next "
            "review, yours for LABELLING_ASSIGNMENT_MINUTES (30 by default). `suggestion` is the current model's "
            "prediction of it, when there is one. `assignment` is null when the queue has nothing left for you. "
            "Analysts of the queue and ML admins."
        ),
        request=None,
        responses=NextSerializer,
        examples=[
            OpenApiExample("A review to label", value=NEXT_EXAMPLE, response_only=True),
            OpenApiExample("Nothing left", value=NOTHING_LEFT_EXAMPLE, response_only=True),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        queue = _queue_for(request, pk)
        try:
            return Response(_next_body(request, queue))
        except LabellingRefused as error:
            raise Refused(error) from None


class LabelView(APIView):
    """POST {"review": id, "label": "positive" | "negative"}: label a review assigned to you; answers with the next one."""

    permission_classes = ANALYST
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        description=(
            "Label a review the queue assigned to you, `positive` or `negative`: 201 with the label, the review's "
            "resolution once its labels are all in and agree (`conflict` is true when they disagree: an ML admin "
            "settles it), and your next review. 403 for a review not assigned to you; 409 for one you have "
            "labelled already, one that is resolved already, or one whose hold expired and went to another "
            "analyst. Analysts of the queue and ML admins."
        ),
        request=LabelInput,
        responses={201: LabelledSerializer},
        examples=[
            OpenApiExample("A label", value={"review": 50231, "label": "negative"}, request_only=True),
            OpenApiExample("Labelled", value=LABELLED_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        queue = _queue_for(request, pk)
        body = LabelInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            outcome = annotation_create(
                queue=queue, user=request.user, review_id=body.validated_data["review"], label=body.validated_data["label"]
            )
            after = _next_body(request, queue)
        except LabellingRefused as error:
            raise Refused(error) from None
        return Response(
            {
                "annotation": AnnotationSerializer(outcome.annotation).data,
                "resolution": ResolutionSerializer(outcome.resolution).data if outcome.resolution else None,
                "conflict": outcome.conflict,
                "next": after["assignment"],
                "labels_today": after["labels_today"],
            },
            status=status.HTTP_201_CREATED,
        )


class SkipView(APIView):
    """POST {"review": id}: pass on a review assigned to you; answers with the next one."""

    permission_classes = ANALYST
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        description=(
            "Pass on a review assigned to you (too ambiguous, not a review, another language): the queue does "
            "not give it to you again. The answer is your next review, as from `next/`. Analysts of the queue "
            "and ML admins."
        ),
        request=SkipInput,
        responses=NextSerializer,
        examples=[
            OpenApiExample("Skip a review", value={"review": 50231}, request_only=True),
            OpenApiExample(
                "The next review",
                value={**NEXT_EXAMPLE, "assignment": LABELLED_EXAMPLE["next"]},
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        queue = _queue_for(request, pk)
        body = SkipInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            assignment_skip(queue=queue, user=request.user, review_id=body.validated_data["review"])
            return Response(_next_body(request, queue))
        except LabellingRefused as error:
            raise Refused(error) from None


class UndoView(APIView):
    """POST: take back your latest label in this queue; the review is yours to label again."""

    permission_classes = ANALYST

    @extend_schema(
        description=(
            "Take back your latest label in this queue: the review is assigned to you again and comes back as "
            "the review to label. 409 when you have no label here to take back, or an ML admin has settled its "
            "review since. Analysts of the queue and ML admins."
        ),
        request=None,
        responses=NextSerializer,
        examples=[
            OpenApiExample(
                "The review to label again",
                value={**NEXT_EXAMPLE, "labels_today": 56},
                response_only=True,
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        queue = _queue_for(request, pk)
        try:
            annotation_undo(queue=queue, user=request.user)
            return Response(_next_body(request, queue))
        except LabellingRefused as error:
            raise Refused(error) from None


# --- Conflicts, agreement, labels ------------------------------------------------------------------------


def _queue_param(request: Request) -> LabellingQueue | None:
    raw = request.query_params.get("queue")
    if raw in (None, ""):
        return None
    if not raw.isdigit():
        raise ValidationError({"queue": "queue is a queue's id, a whole number."})
    return _queue_for(request, int(raw))


@extend_schema(
    description=(
        "Reviews whose labels are all in but disagree (split evenly, or against the gold label), with each "
        "annotator's label and why the review waits for an ML admin; settle one with "
        "`POST /api/labelling/reviews/{review_id}/settle/`. ML admins only."
    ),
    parameters=[QUEUE_PARAMETER],
    examples=[OpenApiExample("A split review", value=CONFLICT_EXAMPLE, response_only=True)],
)
class ConflictListView(generics.ListAPIView):
    """GET ?queue=ID (ML admins): reviews whose labels disagree, with each annotator's label and why."""

    permission_classes = ML_ADMIN
    serializer_class = ConflictSerializer

    def get_queryset(self) -> QuerySet[Review]:
        return conflict_reviews(queue=_queue_param(self.request))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        reviews = self.get_queryset()
        page = self.paginate_queryset(reviews)
        data = ConflictSerializer(conflicts_for(list(page if page is not None else reviews)), many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)


class SettleView(APIView):
    """POST {"label": ..., "reason": ...} (ML admins): settle a review's label; it overrides what the labels came to."""

    permission_classes = ML_ADMIN
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        description=(
            "Settle a review's label, with the reason: it overrides whatever its labels came to (a conflict, a "
            "majority) and is kept with the ML admin who settled it. ML admins only."
        ),
        request=SettleInput,
        responses=SettledSerializer,
        examples=[
            OpenApiExample(
                "Settle a conflict",
                value={
                    "label": "negative",
                    "reason": "Sarcasm: the praise is ironic and the review complains about the plot.",
                },
                request_only=True,
            ),
            OpenApiExample("Settled", value=SETTLED_EXAMPLE, response_only=True),
        ],
    )
    def post(self, request: Request, review_id: int) -> Response:
        review = Review.objects.filter(pk=review_id).first()
        if review is None:
            raise NotFound(f"There is no review {review_id}.")
        body = SettleInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            resolution = resolution_settle(
                review=review, label=body.validated_data["label"], reason=body.validated_data["reason"], by=request.user
            )
        except LabellingRefused as error:
            raise Refused(error) from None
        return Response({"review": review.pk, "resolution": ResolutionSerializer(resolution).data})


class AgreementView(APIView):
    """GET ?queue=ID (ML admins): percent agreement and Cohen's kappa per pair and overall; accuracy against gold."""

    permission_classes = ML_ADMIN

    @extend_schema(
        description=(
            "How much the analysts agree on the reviews that two or more of them labelled: percent agreement and "
            "Cohen's kappa for each pair of analysts and overall, and each analyst's accuracy against the gold "
            "labels. ML admins only."
        ),
        parameters=[QUEUE_PARAMETER],
        responses=AgreementSerializer,
        examples=[
            OpenApiExample(
                "Two analysts",
                value={
                    "reviews": 380,
                    "label_pairs": 380,
                    "percent_agreement": 91.6,
                    "kappa": 0.8312,
                    "pairs": [
                        {
                            "analysts": ["anna", "ben"],
                            "reviews": 380,
                            "agreed": 348,
                            "percent_agreement": 91.6,
                            "kappa": 0.8312,
                        }
                    ],
                    "gold_accuracy": [
                        {"analyst": "anna", "labels": 40, "correct": 37, "accuracy": 0.925},
                        {"analyst": "ben", "labels": 38, "correct": 36, "accuracy": 0.9474},
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        summary = agreement_summary(queue=_queue_param(request))
        report = summary.report
        return Response(
            {
                "reviews": report.reviews,
                "label_pairs": report.label_pairs,
                "percent_agreement": report.percent,
                "kappa": report.kappa,
                "pairs": [
                    {
                        "analysts": [first, second],
                        "reviews": pair.reviews,
                        "agreed": pair.agreed,
                        "percent_agreement": pair.percent,
                        "kappa": pair.kappa,
                    }
                    for first, second, pair in summary.pair_rows
                ],
                "gold_accuracy": [
                    {"analyst": name, "labels": row.labels, "correct": row.correct, "accuracy": row.accuracy}
                    for name, row in summary.accuracy_rows
                ],
            }
        )


@extend_schema(
    description=(
        "Every label, in review order, with its annotator, its time and the review's resolution (null while "
        "unresolved). For a file, see `export.csv` and `export.jsonl`. ML admins only."
    ),
    parameters=[QUEUE_PARAMETER],
    examples=[OpenApiExample("A label", value=ANNOTATION_EXAMPLE, response_only=True)],
)
class AnnotationListView(generics.ListAPIView):
    """GET ?queue=ID (ML admins): every label with its annotator, time and the review's resolution."""

    permission_classes = ML_ADMIN
    serializer_class = AnnotationSerializer

    def get_queryset(self) -> QuerySet[Annotation]:
        queue = _queue_param(self.request)
        annotations = Annotation.objects.select_related("user", "review__resolution__settled_by")
        if queue is not None:
            annotations = annotations.filter(queue=queue)
        return annotations.order_by("review_id", "created_at", "pk")


class ExportView(APIView):
    """GET export.csv | export.jsonl ?queue=ID (ML admins): the labels as a file (see apps.labelling.exports)."""

    permission_classes = ML_ADMIN

    @extend_schema(
        description=(
            "The labels as a file to download, one row per label: `export.csv` (CSV with a header line) or "
            "`export.jsonl` (a JSON object per line). Columns: review_id, source, external_id, text, label, "
            "annotator, labelled_at, queue, gold_label, resolution, resolution_method, resolution_reason, "
            "settled_by, resolved_at. ML admins only."
        ),
        parameters=[QUEUE_PARAMETER],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="A header line, then a row per label.",
                examples=[OpenApiExample("CSV", value=EXPORT_CSV_EXAMPLE)],
            ),
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR,
                description="A JSON object per label.",
                examples=[OpenApiExample("JSON Lines", value=EXPORT_JSONL_EXAMPLE)],
            ),
        },
    )
    def get(self, request: Request, file_format: str) -> StreamingHttpResponse:
        queue = _queue_param(request)
        content_type = "text/csv" if file_format == "csv" else "application/x-ndjson"
        response = StreamingHttpResponse(
            export_lines(export_rows(queue=queue), file_format=file_format), content_type=f"{content_type}; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{export_filename(file_format=file_format, queue=queue)}"'
        return response


# --- Uploads and snapshots -------------------------------------------------------------------------------


class UploadView(APIView):
    """POST multipart ``file`` (CSV, JSONL or plain text), optional ``file_format`` and ``source_name`` (ML admins).

    The whole file is checked first; a bad one imports nothing (400, with the line and the problem).
    """

    permission_classes = ML_ADMIN
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        description=(
            "Upload reviews to label (multipart/form-data, field `file`): CSV with a `review` or `text` column "
            "(optional `id` and `sentiment` or `label`), JSON Lines with `text` (optional `id`, `label`, "
            "`rating`) or plain text, one review per line. The file's extension picks the format unless "
            "`file_format` names it. The whole file is checked first: a bad one imports nothing (400 with the "
            "line and the problem). 201 with the import, whose reviews can make a queue's pool (`import`). "
            "ML admins only."
        ),
        request={"multipart/form-data": UploadInput},
        responses={201: UploadedSerializer},
        examples=[
            OpenApiExample(
                "Imported",
                value={
                    "import_job": 12,
                    "source_name": "may-tickets",
                    "rows_read": 2000,
                    "rows_created": 1987,
                    "rows_existing": 13,
                },
                response_only=True,
                status_codes=["201"],
            )
        ],
    )
    def post(self, request: Request) -> Response:
        body = UploadInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = review_upload(
                file=body.validated_data["file"],
                file_format=body.validated_data.get("file_format") or None,
                source_name=body.validated_data.get("source_name") or None,
                created_by=request.user,
            )
        except UploadError as error:
            raise ValidationError({"file": f"{error} Nothing was imported."}) from None
        return Response(
            {
                "import_job": result.job.pk,
                "source_name": result.source_name,
                "rows_read": result.rows_read,
                "rows_created": result.rows_created,
                "rows_existing": result.rows_existing,
            },
            status=status.HTTP_201_CREATED,
        )


class SnapshotView(APIView):
    """POST {"label_source": "human" | "gold_and_human", "name", "seed", "description"} (ML admins): snapshot the labels."""

    permission_classes = ML_ADMIN

    @extend_schema(
        description=(
            "Freeze the labelled reviews into a dataset snapshot to train on, split with `seed`: `human` takes "
            "the resolved human labels only, `gold_and_human` the gold labels and, for reviews without one, the "
            "resolved human labels. 201 with the snapshot's counts and content hash. ML admins only."
        ),
        request=SnapshotInput,
        responses={201: SnapshotMadeSerializer},
        examples=[
            OpenApiExample(
                "Gold and human labels",
                value={
                    "label_source": "gold_and_human",
                    "name": "Gold and May labels",
                    "seed": 42,
                    "description": "Gold labels plus the resolved labels of the May queues.",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Made",
                value={
                    "id": 7,
                    "name": "Gold and May labels",
                    "label_source": "gold_and_human",
                    "content_hash": "3b8f0c2e9d1a47f6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2",
                    "train": 41590,
                    "validation": 5199,
                    "test": 5199,
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        body = SnapshotInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            snapshot = snapshot_create(
                name=data.get("name") or None,
                seed=data["seed"],
                label_source=data["label_source"],
                description=data["description"],
                created_by=request.user,
            )
        except SnapshotError as error:
            raise ValidationError({"label_source": str(error)}) from None
        return Response(
            {
                "id": snapshot.pk,
                "name": snapshot.name,
                "label_source": snapshot.label_source,
                "content_hash": snapshot.content_hash,
                "train": snapshot.train_count,
                "validation": snapshot.validation_count,
                "test": snapshot.test_count,
            },
            status=status.HTTP_201_CREATED,
        )
