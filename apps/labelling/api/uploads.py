"""``/api/labelling/uploads/`` and ``snapshots/``: reviews to label in, labelled snapshots out."""

from __future__ import annotations

from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.labelling.api.access import ML_ADMIN, caller
from apps.labelling.api.serializers import (
    SnapshotInput,
    SnapshotMadeSerializer,
    UploadedSerializer,
    UploadInput,
)
from apps.labelling.schema import (
    OpenApiExample,
    extend_schema,
)
from apps.reviews.uploads import UploadError, review_upload
from apps.reviews.snapshots import SnapshotError, snapshot_create


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
                created_by=caller(request),
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
                created_by=caller(request),
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
