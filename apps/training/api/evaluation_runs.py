"""``/api/evaluation-runs/``: evaluate a model version on a snapshot split or an uploaded file; follow, cancel."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import conflict, invalid
from apps.api.fields import IdFilterField, QueryFilters, RelatedIdField
from apps.api.idempotency import idempotent
from apps.api.permissions import MANAGE, READ_MODELS
from apps.api.serializers import StrictInputSerializer
from apps.api.views import ApiListView, ApiView, created, get_or_404
from apps.common.choices import JobStatus
from apps.common.models import IllegalTransition
from apps.common.roles import signed_in
from apps.registry.models import ModelVersion
from apps.reviews.models import DatasetSnapshot, ImportJob
from apps.training.api.evaluation_datasets import SLICES_EXAMPLE, SliceGroupSerializer
from apps.training.api.training_runs import (
    CONFUSION_MATRIX_HELP,
    METRIC_FIELDS,
    STATE_FIELDS,
)
from apps.training.choices import EvaluationSplit
from apps.training.models import EvaluationDataset, EvaluationRun
from apps.training.selectors import evaluation_run_list
from apps.training.services import (
    RunConfigError,
    evaluation_run_cancel,
    evaluation_run_create,
)

EVALUATION_EXAMPLE: dict[str, Any] = {
    "id": 21,
    "status": "succeeded",
    "model_version": 9,
    "snapshot": 3,
    "split": "test",
    "review_import": None,
    "dataset": None,
    "processed": 5000,
    "total": 5000,
    "created_by": "mladmin",
    "accuracy": 0.9232, "precision": 0.9187, "recall": 0.9286, "f1": 0.9236, "f1_macro": 0.9232,
    "confusion_matrix": [[2291, 209], [178, 2322]],
    "created_at": "2025-05-02T10:00:00Z", "updated_at": "2025-05-02T10:01:30Z", "started_at": "2025-05-02T10:00:02Z",
    "finished_at": "2025-05-02T10:01:30Z", "heartbeat_at": "2025-05-02T10:01:29Z", "cancel_requested": False,
    "worker": "gpu@worker-1", "device": "cuda (NVIDIA H100)", "error": "",
}  # fmt: skip


class EvaluationRunSerializer(serializers.ModelSerializer):
    created_by = serializers.SerializerMethodField()
    confusion_matrix = serializers.JSONField(read_only=True, help_text=CONFUSION_MATRIX_HELP)
    review_import: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="With split `import`: the import whose labelled reviews were evaluated."
    )
    dataset: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="With split `file`: the uploaded evaluation file (`/api/evaluation-datasets/{id}/`)."
    )

    class Meta:
        model = EvaluationRun
        fields = [
            "id", "model_version", "snapshot", "split", "review_import", "dataset", "processed", "total",
            "created_by", *METRIC_FIELDS, "confusion_matrix", *STATE_FIELDS,
        ]  # fmt: skip
        read_only_fields = fields

    def get_created_by(self, evaluation: EvaluationRun) -> str | None:
        user = evaluation.created_by
        return user.get_username() if user is not None else None


class EvaluationRunDetailSerializer(EvaluationRunSerializer):
    slices = SliceGroupSerializer(
        many=True,
        read_only=True,
        help_text="Counts and accuracy by review length (token quartiles), star rating, source and origin split; "
        "empty until the evaluation has succeeded.",
    )

    class Meta(EvaluationRunSerializer.Meta):
        fields = [*EvaluationRunSerializer.Meta.fields, "metrics", "slices", "log_tail"]
        read_only_fields = fields


class EvaluationRunCreateSerializer(StrictInputSerializer):
    model_version = RelatedIdField(queryset=ModelVersion.objects.all(), what="model version")
    snapshot = RelatedIdField(
        queryset=DatasetSnapshot.objects.all(),
        what="snapshot",
        required=False,
        allow_null=True,
        default=None,
        help_text="Default: the snapshot the version was trained on.",
    )
    split = serializers.ChoiceField(
        choices=EvaluationSplit.choices,
        required=False,
        help_text="A split of the snapshot (default test); human: every review with a resolved human label; "
        "import: the labelled reviews of `review_import`; file: the uploaded file `dataset`. Implied by "
        "`review_import` or `dataset` when left out.",
    )
    review_import = RelatedIdField(
        queryset=ImportJob.objects.all(),
        what="import",
        required=False,
        allow_null=True,
        default=None,
        help_text="An import's id: evaluate on the reviews it added that have a gold or resolved human label.",
    )
    dataset = RelatedIdField(
        queryset=EvaluationDataset.objects.all(),
        what="evaluation file",
        required=False,
        allow_null=True,
        default=None,
        help_text="An uploaded evaluation file's id (POST /api/evaluation-datasets/ first).",
    )


class EvaluationFilterSerializer(QueryFilters):
    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)
    model_version = IdFilterField()


# --- Evaluation runs -------------------------------------------------------------------------------------


class EvaluationRunListView(ApiListView):
    """Evaluation runs, newest first; POST queues an evaluation of a model version."""

    required = {"GET": READ_MODELS, "POST": MANAGE}
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["evaluation runs"],
        parameters=[EvaluationFilterSerializer],
        responses=EvaluationRunSerializer(many=True),
        examples=[OpenApiExample("An evaluation", value=EVALUATION_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        query = EvaluationFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        evaluations = evaluation_run_list(model_version_id=query.validated_data.get("model_version"))
        if "status" in query.validated_data:
            evaluations = evaluations.filter(status=query.validated_data["status"])
        return self.page(
            evaluations.select_related("created_by").defer("log_tail", "metrics", "slices"), EvaluationRunSerializer
        )

    @extend_schema(
        tags=["evaluation runs"],
        description=(
            "Queue an evaluation of a model version on a snapshot split (by default the test split of the "
            "snapshot it was trained on), on every review with a resolved human label (`split: human`), on the "
            "labelled reviews of an import (`review_import`) or on an uploaded labelled file (`dataset`, from "
            "`POST /api/evaluation-datasets/`). 202 with the queued evaluation; the `evaluation_run.finished` "
            "webhook says when it is done. The finished evaluation has metrics, the confusion matrix and `slices`."
        ),
        request=EvaluationRunCreateSerializer,
        responses={202: EvaluationRunDetailSerializer},
        examples=[
            OpenApiExample("On the human labels", value={"model_version": 9, "split": "human"}, request_only=True),
            OpenApiExample("On an import", value={"model_version": 9, "review_import": 4}, request_only=True),
            OpenApiExample("On an uploaded file", value={"model_version": 9, "dataset": 2}, request_only=True),
            OpenApiExample(
                "Queued",
                value={
                    **EVALUATION_EXAMPLE,
                    "status": "queued",
                    "processed": 0,
                    "total": 0,
                    **dict.fromkeys(METRIC_FIELDS),
                    "confusion_matrix": [],
                    "metrics": {},
                    "slices": [],
                    "started_at": None,
                    "finished_at": None,
                    "heartbeat_at": None,
                    "worker": "",
                    "device": "",
                    "log_tail": "",
                },
                response_only=True,
                status_codes=["202"],
            ),
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        body = EvaluationRunCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            evaluation = evaluation_run_create(**body.validated_data, created_by=signed_in(request))
        except RunConfigError as error:
            raise invalid(error.errors) from None
        return created(
            EvaluationRunDetailSerializer(evaluation).data,
            f"/api/evaluation-runs/{evaluation.pk}/",
            http_status=status.HTTP_202_ACCEPTED,
        )


class EvaluationRunDetailView(ApiView):
    """One evaluation run: progress while it runs, then its metrics and confusion matrix."""

    required = {"GET": READ_MODELS}

    @extend_schema(
        tags=["evaluation runs"],
        responses=EvaluationRunDetailSerializer,
        examples=[
            OpenApiExample(
                "A finished evaluation",
                value={**EVALUATION_EXAMPLE, "metrics": {"accuracy": 0.9232}, "slices": SLICES_EXAMPLE, "log_tail": ""},
                response_only=True,
            )
        ],
    )
    def get(self, request: Request, pk: int) -> Response:
        evaluation = get_or_404(EvaluationRun.objects.select_related("created_by"), pk, "evaluation run")
        return Response(EvaluationRunDetailSerializer(evaluation).data)


class EvaluationRunCancelView(ApiView):
    """Cancel an evaluation: a queued one at once, a running one before it records its results."""

    required = {"POST": MANAGE}

    @extend_schema(
        tags=["evaluation runs"],
        request=None,
        responses={200: EvaluationRunDetailSerializer, 409: None},
        examples=[
            OpenApiExample(
                "Cancelled",
                value={**EVALUATION_EXAMPLE, "status": "cancelled", "metrics": {}, "slices": [], "log_tail": ""},
                response_only=True,
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        evaluation = get_or_404(EvaluationRun.objects.all(), pk, "evaluation run")
        try:
            evaluation_run_cancel(evaluation=evaluation, by=signed_in(request))
        except IllegalTransition as error:
            raise conflict(str(error)) from None
        evaluation = EvaluationRun.objects.select_related("created_by").get(pk=pk)
        return Response(EvaluationRunDetailSerializer(evaluation).data)
