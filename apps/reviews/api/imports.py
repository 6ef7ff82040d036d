"""``/api/imports/``: upload a file to import on a worker, follow its status, cancel it."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import ApiError, conflict, invalid
from apps.api.permissions import MANAGE, READ_DATA
from apps.api.throttles import BulkThrottle
from apps.api.views import ApiListView, ApiView, created, get_or_404
from apps.common.models import IllegalTransition
from apps.common.roles import signed_in
from apps.reviews.importers import ReviewImportError
from apps.reviews.models import ImportJob
from apps.reviews.services import (
    import_job_cancel,
    import_upload_enqueue,
)

IMPORT_EXAMPLE = {
    "id": 12,
    "status": "succeeded",
    "source": "/var/lib/sentiment/uploads/5f2c.../reviews.csv",
    "source_name": "reviews",
    "rows_read": 2000,
    "rows_created": 1987,
    "rows_existing": 13,
    "error": "",
    "log_tail": "Read 2000 reviews from ... in 1.2s as source 'reviews': 1987 new, 13 already present.\n",
    "created_at": "2025-05-01T09:30:00Z",
    "updated_at": "2025-05-01T09:30:03Z",
    "started_at": "2025-05-01T09:30:01Z",
    "finished_at": "2025-05-01T09:30:03Z",
}


class ImportJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportJob
        fields = [
            "id", "status", "source", "source_name", "rows_read", "rows_created", "rows_existing", "error",
            "log_tail", "created_at", "updated_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="A .csv (review,sentiment), .jsonl (text, label), .parquet or aclImdb .tar.gz file."
    )
    source_name = serializers.CharField(
        max_length=64, required=False, help_text="Stored as the reviews' source; default: the file's name."
    )


# --- Imports ---------------------------------------------------------------------------------------------


class ImportListView(ApiListView):
    """Imports, newest first; POST uploads a file and queues its import on a worker."""

    required = {"GET": READ_DATA, "POST": MANAGE}
    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [BulkThrottle]

    @extend_schema(
        tags=["imports"],
        responses=ImportJobSerializer(many=True),
        examples=[OpenApiExample("An import", value=IMPORT_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return self.page(ImportJob.objects.all(), ImportJobSerializer)

    @extend_schema(
        tags=["imports"],
        description=(
            "Upload a file of reviews (multipart/form-data, field `file`) and queue its import: 202 with the "
            "import, `queued`. Poll `GET /api/imports/{id}/` until its status is `succeeded` or `failed`; the "
            "`import.finished` webhook says so too. An import is all or nothing and adds no review twice."
        ),
        request={"multipart/form-data": ImportUploadSerializer},
        responses={202: ImportJobSerializer, 413: None},
        examples=[
            OpenApiExample(
                "Queued",
                value={
                    **IMPORT_EXAMPLE,
                    "status": "queued",
                    "rows_read": 0,
                    "rows_created": 0,
                    "rows_existing": 0,
                    "log_tail": "",
                    "started_at": None,
                    "finished_at": None,
                },
                response_only=True,
                status_codes=["202"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        body = ImportUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            job = import_upload_enqueue(
                file=body.validated_data["file"],
                source_name=body.validated_data.get("source_name"),
                created_by=signed_in(request),
            )
        except ReviewImportError as error:
            if "largest upload" in str(error):
                raise ApiError(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "too_large", str(error)) from None
            raise invalid({"file": str(error)}) from None
        return created(ImportJobSerializer(job).data, f"/api/imports/{job.pk}/", http_status=status.HTTP_202_ACCEPTED)


class ImportDetailView(ApiView):
    """One import: its status, counts, error and log. Poll it with If-None-Match for a cheap 304."""

    required = {"GET": READ_DATA}

    @extend_schema(
        tags=["imports"],
        responses=ImportJobSerializer,
        examples=[OpenApiExample("A finished import", value=IMPORT_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(ImportJobSerializer(get_or_404(ImportJob.objects.all(), pk, "import")).data)


class ImportCancelView(ApiView):
    """Cancel an import: a queued one at once, a running one before its next chunk; it imports nothing."""

    required = {"POST": MANAGE}

    @extend_schema(
        tags=["imports"],
        request=None,
        responses={200: ImportJobSerializer, 409: None},
        examples=[OpenApiExample("Cancelled", value={**IMPORT_EXAMPLE, "status": "cancelled"}, response_only=True)],
    )
    def post(self, request: Request, pk: int) -> Response:
        job = get_or_404(ImportJob.objects.all(), pk, "import")
        try:
            job = import_job_cancel(job=job, by=signed_in(request))
        except IllegalTransition as error:
            raise conflict(str(error)) from None
        return Response(ImportJobSerializer(ImportJob.objects.get(pk=job.pk)).data)


