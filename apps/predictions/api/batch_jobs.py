"""Batch prediction jobs: ``/api/batch-predictions/``, one job, and its cancel."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import conflict, invalid
from apps.api.fields import IdFilterField, QueryFilters, RelatedIdField
from apps.api.idempotency import idempotent
from apps.api.permissions import MANAGE, READ_DATA
from apps.api.throttles import BulkThrottle
from apps.api.views import ApiListView, ApiView, created, get_or_404
from apps.common.choices import JobStatus
from apps.common.labels import QueuePool
from apps.common.models import IllegalTransition
from apps.common.roles import signed_in
from apps.predictions.batch import (
    BatchJobError,
    batch_prediction_job_cancel,
    batch_prediction_job_create,
)
from apps.predictions.models import BatchPredictionJob
from apps.registry.models import ModelVersion
from apps.reviews.choices import Split
from apps.reviews.models import DatasetSnapshot, ImportJob

BATCH_JOB_EXAMPLE = {
    "id": 5,
    "status": "running",
    "model_version": 9,
    "pool": "unlabelled",
    "snapshot": None,
    "split": "",
    "import_job": None,
    "total": 50000,
    "processed": 12288,
    "created_by": "mladmin",
    "created_at": "2025-05-02T10:00:00Z",
    "updated_at": "2025-05-02T10:02:10Z",
    "started_at": "2025-05-02T10:00:02Z",
    "finished_at": None,
    "heartbeat_at": "2025-05-02T10:02:10Z",
    "cancel_requested": False,
    "worker": "gpu@worker-1",
    "error": "",
}


class BatchJobSerializer(serializers.ModelSerializer):
    created_by = serializers.SerializerMethodField()
    split = serializers.ChoiceField(
        choices=["", *Split.values], help_text="The snapshot split of a snapshot_split pool."
    )

    class Meta:
        model = BatchPredictionJob
        fields = [
            "id", "status", "model_version", "pool", "snapshot", "split", "import_job", "total", "processed",
            "created_by", "created_at", "updated_at", "started_at", "finished_at", "heartbeat_at",
            "cancel_requested", "worker", "error",
        ]  # fmt: skip
        read_only_fields = fields

    def get_created_by(self, job: BatchPredictionJob) -> str | None:
        created_by = job.created_by
        return created_by.get_username() if created_by is not None else None


class BatchJobDetailSerializer(BatchJobSerializer):
    class Meta(BatchJobSerializer.Meta):
        fields = [*BatchJobSerializer.Meta.fields, "log_tail"]
        read_only_fields = fields


class BatchJobCreateSerializer(serializers.Serializer):
    model_version = RelatedIdField(queryset=ModelVersion.objects.all(), what="model version")
    pool = serializers.ChoiceField(
        choices=QueuePool.choices,
        help_text="unlabelled (no gold label), snapshot_split (needs snapshot and split), import (needs import_job) or all.",
    )
    snapshot = RelatedIdField(
        queryset=DatasetSnapshot.objects.all(), what="snapshot", required=False, allow_null=True, default=None
    )
    split = serializers.ChoiceField(choices=["", *Split.values], required=False, default="")
    import_job = RelatedIdField(
        queryset=ImportJob.objects.all(), what="import", required=False, allow_null=True, default=None
    )


class BatchJobFilterSerializer(QueryFilters):
    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)
    model_version = IdFilterField()


class BatchJobListView(ApiListView):
    """Batch prediction jobs, newest first; POST queues one over a pool of reviews."""

    required = {"GET": READ_DATA, "POST": MANAGE}
    parser_classes = [JSONParser]
    throttle_classes = [BulkThrottle]

    @extend_schema(
        tags=["batch predictions"],
        parameters=[BatchJobFilterSerializer],
        responses=BatchJobSerializer(many=True),
        examples=[OpenApiExample("A running job", value=BATCH_JOB_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        query = BatchJobFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        jobs = BatchPredictionJob.objects.select_related("created_by").defer("log_tail")
        if "status" in query.validated_data:
            jobs = jobs.filter(status=query.validated_data["status"])
        if "model_version" in query.validated_data:
            jobs = jobs.filter(model_version_id=query.validated_data["model_version"])
        return self.page(jobs, BatchJobSerializer)

    @extend_schema(
        tags=["batch predictions"],
        description=(
            "Queue a job that predicts every review of a pool with one model version, on a worker: 202 with the "
            "queued job. Its predictions are stored as they are made (`/api/predictions/?batch_job={id}`). Send "
            "an `Idempotency-Key` so that a retried request never queues a second job."
        ),
        request=BatchJobCreateSerializer,
        responses={202: BatchJobDetailSerializer},
        examples=[
            OpenApiExample(
                "The unlabelled reviews", value={"model_version": 9, "pool": "unlabelled"}, request_only=True
            ),
            OpenApiExample(
                "A snapshot's test split",
                value={"model_version": 9, "pool": "snapshot_split", "snapshot": 3, "split": "test"},
                request_only=True,
            ),
            OpenApiExample(
                "Queued",
                value={
                    **BATCH_JOB_EXAMPLE,
                    "status": "queued",
                    "total": 0,
                    "processed": 0,
                    "started_at": None,
                    "heartbeat_at": None,
                    "worker": "",
                    "log_tail": "",
                },
                response_only=True,
                status_codes=["202"],
            ),
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        body = BatchJobCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            job = batch_prediction_job_create(**body.validated_data, created_by=signed_in(request))
        except BatchJobError as error:
            raise invalid(error.errors) from None
        return created(
            BatchJobDetailSerializer(job).data,
            f"/api/batch-predictions/{job.pk}/",
            http_status=status.HTTP_202_ACCEPTED,
        )


class BatchJobDetailView(ApiView):
    """One batch prediction job: its progress (processed of total), then how it ended."""

    required = {"GET": READ_DATA}

    @extend_schema(
        tags=["batch predictions"],
        responses=BatchJobDetailSerializer,
        examples=[OpenApiExample("A running job", value={**BATCH_JOB_EXAMPLE, "log_tail": ""}, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        job = get_or_404(BatchPredictionJob.objects.select_related("created_by"), pk, "batch prediction job")
        return Response(BatchJobDetailSerializer(job).data)


class BatchJobCancelView(ApiView):
    """Cancel a batch job: a queued one at once, a running one after the chunk it is predicting."""

    required = {"POST": MANAGE}

    @extend_schema(
        tags=["batch predictions"],
        request=None,
        responses={200: BatchJobDetailSerializer, 409: None},
        examples=[
            OpenApiExample(
                "Cancelled", value={**BATCH_JOB_EXAMPLE, "status": "cancelled", "log_tail": ""}, response_only=True
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        job = get_or_404(BatchPredictionJob.objects.all(), pk, "batch prediction job")
        try:
            batch_prediction_job_cancel(job=job, by=signed_in(request))
        except IllegalTransition as error:
            raise conflict(str(error)) from None
        return Response(
            BatchJobDetailSerializer(BatchPredictionJob.objects.select_related("created_by").get(pk=pk)).data
        )
