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
from django.http import StreamingHttpResponse
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


class QueueListCreateView(generics.ListCreateAPIView):
    """GET: the queues you work (every queue for an ML admin). POST (ML admins): a new queue, ordered at once."""

    serializer_class = QueueSerializer

    def get_permissions(self) -> list[BasePermission]:
        classes = ML_ADMIN if self.request.method == "POST" else ANALYST
        return [permission() for permission in classes]

    def get_queryset(self) -> QuerySet[LabellingQueue]:
        return queue_list(user=self.request.user).prefetch_related("annotators")


class QueueDetailView(generics.RetrieveUpdateAPIView):
    """GET: a queue with its progress. PATCH (ML admins): its name, strategy, overlap, analysts or is_active."""

    serializer_class = QueueSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_permissions(self) -> list[BasePermission]:
        classes = ANALYST if self.request.method in ("GET", "HEAD", "OPTIONS") else ML_ADMIN
        return [permission() for permission in classes]

    def get_queryset(self) -> QuerySet[LabellingQueue]:
        return queue_list(user=self.request.user).prefetch_related("annotators")


def _queue_for(request: Request, pk: int) -> LabellingQueue:
    queue = queue_list(user=request.user).filter(pk=pk).first()
    if queue is None:
        raise NotFound(f"There is no queue {pk} among your queues.")
    return queue


class QueueReorderView(APIView):
    """POST (ML admins): recompute the queue's order from its pool and the current model's batch predictions."""

    permission_classes = ML_ADMIN

    @extend_schema(request=None, responses=ReorderSerializer)
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

    @extend_schema(responses=ProgressSerializer)
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

    @extend_schema(request=None, responses=NextSerializer)
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

    @extend_schema(request=LabelInput, responses={201: LabelledSerializer})
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

    @extend_schema(request=SkipInput, responses=NextSerializer)
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

    @extend_schema(request=None, responses=NextSerializer)
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


@extend_schema(parameters=[QUEUE_PARAMETER])
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

    @extend_schema(request=SettleInput, responses=SettledSerializer)
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

    @extend_schema(parameters=[QUEUE_PARAMETER], responses=AgreementSerializer)
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


@extend_schema(parameters=[QUEUE_PARAMETER])
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
        parameters=[QUEUE_PARAMETER],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="A header line, then a row per label."),
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="A JSON object per label."),
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

    @extend_schema(request={"multipart/form-data": UploadInput}, responses={201: UploadedSerializer})
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

    @extend_schema(request=SnapshotInput, responses={201: SnapshotMadeSerializer})
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
