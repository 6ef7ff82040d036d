"""``/api/labelling/annotations/`` and ``export.csv|jsonl``: the labels given, as pages or a file."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.labelling.api.access import (
    ML_ADMIN,
    queue_param,
)
from apps.labelling.api.examples import (
    ANNOTATION_EXAMPLE,
    EXPORT_CSV_EXAMPLE,
    EXPORT_JSONL_EXAMPLE,
)
from apps.labelling.api.serializers import (
    AnnotationSerializer,
)
from apps.labelling.exports import export_filename, export_lines, export_rows
from apps.labelling.models import Annotation
from apps.labelling.schema import (
    QUEUE_PARAMETER,
    OpenApiExample,
    OpenApiResponse,
    OpenApiTypes,
    extend_schema,
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
        queue = queue_param(self.request)
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
        queue = queue_param(request)
        content_type = "text/csv" if file_format == "csv" else "application/x-ndjson"
        response = StreamingHttpResponse(
            export_lines(export_rows(queue=queue), file_format=file_format), content_type=f"{content_type}; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{export_filename(file_format=file_format, queue=queue)}"'
        return response

