"""REST API for what evaluations add to runs: slices, and labelled files uploaded to evaluate on.

``POST /api/evaluation-datasets/`` (multipart, ML admins) stores a labelled CSV or JSONL file as an
evaluation dataset, its reviews under a source of their own and out of every training snapshot; then
``POST /api/evaluation-runs/`` with ``{"model_version": 9, "dataset": <id>}`` evaluates a version on it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import ApiError, invalid
from apps.api.permissions import MANAGE, READ_MODELS
from apps.api.views import ApiListView, ApiView, created, get_or_404
from apps.common.roles import signed_in
from apps.training.evaluation_data import EvaluationDataError, evaluation_dataset_create
from apps.training.models import EvaluationDataset

SLICES_EXAMPLE: list[dict[str, Any]] = [
    {
        "dimension": "length", "title": "Review length (tokens, by quartile)", "boundaries": [127, 173, 280],
        "slices": [
            {"value": "q1", "label": "10–127 tokens", "count": 1253, "correct": 1172, "accuracy": 0.9354, "positive": 610, "min_tokens": 10, "max_tokens": 127},
            {"value": "q2", "label": "128–173 tokens", "count": 1248, "correct": 1160, "accuracy": 0.9295, "positive": 633, "min_tokens": 128, "max_tokens": 173},
            {"value": "q3", "label": "174–280 tokens", "count": 1251, "correct": 1153, "accuracy": 0.9217, "positive": 622, "min_tokens": 174, "max_tokens": 280},
            {"value": "q4", "label": "281–1890 tokens", "count": 1248, "correct": 1131, "accuracy": 0.9062, "positive": 635, "min_tokens": 281, "max_tokens": 1890},
        ],
    },
    {
        "dimension": "rating", "title": "Star rating",
        "slices": [
            {"value": "1", "label": "1 / 10", "count": 1021, "correct": 987, "accuracy": 0.9667, "positive": 0},
            {"value": "10", "label": "10 / 10", "count": 987, "correct": 951, "accuracy": 0.9635, "positive": 987},
        ],
    },
    {
        "dimension": "source", "title": "Source",
        "slices": [{"value": "imdb", "label": "imdb", "count": 5000, "correct": 4616, "accuracy": 0.9232, "positive": 2500}],
    },
    {
        "dimension": "origin_split", "title": "Origin split (the source's own)",
        "slices": [
            {"value": "test", "label": "test", "count": 2514, "correct": 2318, "accuracy": 0.9220, "positive": 1262},
            {"value": "train", "label": "train", "count": 2486, "correct": 2298, "accuracy": 0.9244, "positive": 1238},
        ],
    },
]  # fmt: skip
DATASET_EXAMPLE: dict[str, Any] = {
    "id": 2, "name": "support-tickets.csv", "filename": "support-tickets.csv", "source_name": "eval-support-tickets",
    "review_count": 1200, "positive_count": 530, "negative_count": 670, "created_by": "mladmin",
    "created_at": "2025-05-03T08:00:00Z",
}  # fmt: skip


class SliceSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="The slice's key: q1..q4 for length, the rating, the source, the origin split.")
    # A field named label: the serializer metaclass takes it off the class, so Field.label is not overridden.
    label = serializers.CharField(help_text="The slice in words, e.g. '128–173 tokens' or '7 / 10'.")  # type: ignore[assignment]
    count = serializers.IntegerField(help_text="Reviews in the slice.")
    correct = serializers.IntegerField(help_text="Reviews in the slice the model got right.")
    accuracy = serializers.FloatField()
    positive = serializers.IntegerField(help_text="Reviews in the slice whose gold label is positive.")
    min_tokens = serializers.IntegerField(required=False, help_text="Length slices: the shortest review's tokens.")
    max_tokens = serializers.IntegerField(required=False, help_text="Length slices: the slice's upper boundary.")


class SliceGroupSerializer(serializers.Serializer):
    dimension = serializers.ChoiceField(choices=["length", "rating", "source", "origin_split"])
    title = serializers.CharField()
    boundaries = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="Length only: the token counts at the quartiles; a slice holds reviews up to its boundary.",
    )
    slices = SliceSerializer(many=True)


class EvaluationDatasetSerializer(serializers.ModelSerializer):
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = EvaluationDataset
        fields = [
            "id", "name", "filename", "source_name", "review_count", "positive_count", "negative_count",
            "created_by", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class EvaluationDatasetUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,
        help_text="CSV (review or text, sentiment or label, optional id) or JSON Lines (text, label, optional id, "
        "rating); every review needs a label.",
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, help_text="Default: the file's name.")
    source_name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="The reviews' source; default eval-<file name>. Never a source of imported reviews.",
    )


class EvaluationDatasetListView(ApiListView):
    """Labelled files uploaded to evaluate on, newest first; POST uploads one."""

    required = {"GET": READ_MODELS, "POST": MANAGE}
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        tags=["evaluation runs"],
        responses=EvaluationDatasetSerializer(many=True),
        examples=[OpenApiExample("An evaluation file", value=DATASET_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return self.page(EvaluationDataset.objects.select_related("created_by"), EvaluationDatasetSerializer)

    @extend_schema(
        tags=["evaluation runs"],
        description=(
            "Upload a labelled file to evaluate models on (multipart/form-data, field `file`): 201 with the stored "
            "dataset. The file is checked whole first: a bad line, a review without a label or a file over "
            "IMPORT_MAX_UPLOAD_BYTES (413) stores nothing, and the message names the line. Its reviews are kept "
            "under a source of their own, without gold labels, so no training snapshot takes them in."
        ),
        request={"multipart/form-data": EvaluationDatasetUploadSerializer},
        responses={201: EvaluationDatasetSerializer, 400: None, 413: None},
        examples=[OpenApiExample("Stored", value=DATASET_EXAMPLE, response_only=True, status_codes=["201"])],
    )
    def post(self, request: Request) -> Response:
        body = EvaluationDatasetUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            dataset = evaluation_dataset_create(
                file=body.validated_data["file"],
                name=body.validated_data.get("name"),
                source_name=body.validated_data.get("source_name") or None,
                created_by=signed_in(request),
            )
        except EvaluationDataError as error:
            if "largest evaluation file" in str(error):
                raise ApiError(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "too_large", str(error)) from None
            raise invalid({"file": str(error)}) from None
        return created(EvaluationDatasetSerializer(dataset).data, f"/api/evaluation-datasets/{dataset.pk}/")


class EvaluationDatasetDetailView(ApiView):
    """One uploaded evaluation file: its name, source and label counts."""

    required = {"GET": READ_MODELS}

    @extend_schema(
        tags=["evaluation runs"],
        responses=EvaluationDatasetSerializer,
        examples=[OpenApiExample("An evaluation file", value=DATASET_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        dataset = get_or_404(EvaluationDataset.objects.select_related("created_by"), pk, "evaluation file")
        return Response(EvaluationDatasetSerializer(dataset).data)
