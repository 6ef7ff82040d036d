"""``/api/labelling/noise/``: label-noise detections (ML admins): start one, follow it, read the estimates.

- ``GET /api/labelling/noise/``: one row per snapshot (or snapshot split) and per finished import, with the
  estimated number and share of wrong labels from its latest succeeded detection (null when none yet).
- ``POST /api/labelling/noise/``: queue a detection over a snapshot (optionally one split) or an import; 202.
- ``GET /api/labelling/noise/{id}/``: one detection, with its progress (fold models scored) and results.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.errors import ApiError
from apps.api.views import created, get_or_404
from apps.labelling.api.access import ML_ADMIN, caller
from apps.labelling.models import NoiseDetection
from apps.labelling.noise import (
    NoiseDetectionError,
    NoiseRow,
    noise_detection_start,
    noise_overview,
)
from apps.labelling.schema import OpenApiExample, extend_schema
from apps.reviews.choices import Split
from apps.reviews.models import DatasetSnapshot, ImportJob
from workers.ml.noise import MAX_FOLDS, MAX_REPEATS, NoiseSettings

DETECTION_EXAMPLE = {
    "id": 4, "status": "succeeded", "snapshot": 2, "split": "train", "import_job": None, "folds": 5, "repeats": 3, "ngram_max": 2,
    "processed": 15, "total": 15, "reviews": 40000, "flagged": 2718, "estimated_wrong_labels": 1916,
    "estimated_wrong_share": 0.0479, "out_of_sample_accuracy": 0.8777, "error": "",
    "created_at": "2026-12-02T15:00:00Z", "started_at": "2026-12-02T15:00:01Z", "finished_at": "2026-12-02T15:01:37Z",
}  # fmt: skip
OVERVIEW_EXAMPLE = [
    {
        "scope": "snapshot", "snapshot": 2, "split": "train", "import_job": None, "name": "Gold labels, seed 42",
        "reviews": 40000, "estimated_wrong_labels": 1916, "estimated_wrong_share": 0.0479, "flagged": 2718,
        "detection": 4, "latest_detection": 4, "latest_status": "succeeded",
    },
    {
        "scope": "import", "snapshot": None, "split": "", "import_job": 3, "name": "may-reviews", "reviews": None,
        "estimated_wrong_labels": None, "estimated_wrong_share": None, "flagged": None, "detection": None,
        "latest_detection": None, "latest_status": None,
    },
]  # fmt: skip


class NoiseDetectionSerializer(serializers.ModelSerializer):
    estimated_wrong_labels = serializers.IntegerField(
        source="estimated_issues", allow_null=True, help_text="How many labels confident learning estimates are wrong."
    )
    estimated_wrong_share = serializers.FloatField(
        source="estimated_share", allow_null=True, help_text="That number over the reviews checked (0..1)."
    )

    class Meta:
        model = NoiseDetection
        fields = [
            "id", "status", "snapshot", "split", "import_job", "folds", "repeats", "ngram_max", "processed", "total", "reviews",
            "flagged", "estimated_wrong_labels", "estimated_wrong_share", "out_of_sample_accuracy", "error",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class NoiseOverviewSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=["snapshot", "import"])
    snapshot = serializers.IntegerField(allow_null=True)
    split = serializers.CharField(help_text="The snapshot's split checked; empty: every split (or an import).")
    import_job = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    reviews = serializers.IntegerField(allow_null=True, help_text="Labelled reviews the latest succeeded detection checked.")
    estimated_wrong_labels = serializers.IntegerField(allow_null=True)
    estimated_wrong_share = serializers.FloatField(allow_null=True)
    flagged = serializers.IntegerField(allow_null=True, help_text="Reviews it flagged (the suspicious queues show them first).")
    detection = serializers.IntegerField(allow_null=True, help_text="The detection these figures come from.")
    latest_detection = serializers.IntegerField(allow_null=True)
    latest_status = serializers.CharField(allow_null=True)


def _scope_name(row: NoiseRow) -> str:
    if row.snapshot is not None:
        return row.snapshot.name
    assert row.import_job is not None  # a row is about a snapshot or, failing that, an import
    return row.import_job.source_name or row.import_job.source


def overview_row(row: NoiseRow) -> dict[str, Any]:
    result, latest = row.result, row.latest
    return {
        "scope": row.scope,
        "snapshot": row.snapshot.pk if row.snapshot is not None else None,
        "split": row.split,
        "import_job": row.import_job.pk if row.import_job is not None else None,
        "name": _scope_name(row),
        "reviews": result.reviews if result else None,
        "estimated_wrong_labels": result.estimated_issues if result else None,
        "estimated_wrong_share": result.estimated_share if result else None,
        "flagged": result.flagged if result else None,
        "detection": result.pk if result else None,
        "latest_detection": latest.pk if latest else None,
        "latest_status": latest.status if latest else None,
    }


class NoiseDetectionInput(serializers.Serializer):
    snapshot = serializers.IntegerField(required=False, allow_null=True, help_text="Check this snapshot's labels.")
    split = serializers.ChoiceField(
        choices=Split.choices, required=False, allow_blank=True, default="", help_text="Only this split; empty: all."
    )
    import_job = serializers.IntegerField(required=False, allow_null=True, help_text="Or this import's reviews.")
    folds = serializers.IntegerField(min_value=2, max_value=MAX_FOLDS, default=5)
    repeats = serializers.IntegerField(
        min_value=1, max_value=MAX_REPEATS, default=NoiseSettings.repeats, help_text="Seeded k-fold splits averaged; each review gets one score per split."
    )
    ngram_max = serializers.IntegerField(min_value=1, max_value=3, default=2)


class NoiseListView(APIView):
    permission_classes = ML_ADMIN

    @extend_schema(
        description=(
            "Per snapshot (or snapshot split checked) and per finished import: the estimated number and share of "
            "wrong labels from its latest succeeded label-noise detection (null until one has run), and the "
            "latest detection's status. ML admins only."
        ),
        responses=NoiseOverviewSerializer(many=True),
        examples=[OpenApiExample("Estimates", value=OVERVIEW_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return Response([overview_row(row) for row in noise_overview()])

    @extend_schema(
        description=(
            "Queue a label-noise detection on the default queue: k-fold out-of-sample probabilities of the TF-IDF "
            "model over the labelled reviews of a snapshot (one split, or all) or an import, then cleanlab's "
            "confident learning. 202 with the detection; 409 while one of the same scope is queued or running."
        ),
        request=NoiseDetectionInput,
        responses={202: NoiseDetectionSerializer},
        examples=[
            OpenApiExample("A snapshot's train split", value={"snapshot": 2, "split": "train"}, request_only=True),
            OpenApiExample("An import", value={"import_job": 3, "folds": 10}, request_only=True),
            OpenApiExample(
                "Queued",
                value={**DETECTION_EXAMPLE, "status": "queued", "processed": 0, "reviews": 0, "flagged": 0,
                       "estimated_wrong_labels": None, "estimated_wrong_share": None, "out_of_sample_accuracy": None,
                       "started_at": None, "finished_at": None},
                response_only=True,
                status_codes=["202"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        body = NoiseDetectionInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        snapshot = _find(DatasetSnapshot, data.get("snapshot"), "snapshot")
        import_job = _find(ImportJob, data.get("import_job"), "import_job")
        try:
            detection = noise_detection_start(
                snapshot=snapshot,
                split=data["split"],
                import_job=import_job,
                folds=data["folds"],
                repeats=data["repeats"],
                ngram_max=data["ngram_max"],
                created_by=caller(request),
            )
        except NoiseDetectionError as error:
            if error.http_status == 409:
                raise ApiError(409, "already_running", str(error)) from None
            raise ValidationError(error.errors) from None
        return created(
            NoiseDetectionSerializer(detection).data,
            f"/api/labelling/noise/{detection.pk}/",
            http_status=status.HTTP_202_ACCEPTED,
        )


class NoiseDetailView(APIView):
    permission_classes = ML_ADMIN

    @extend_schema(
        description="One label-noise detection: status, fold models scored, and what it found. ML admins only.",
        responses=NoiseDetectionSerializer,
        examples=[OpenApiExample("Succeeded", value=DETECTION_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(NoiseDetectionSerializer(get_or_404(NoiseDetection.objects.all(), pk, "label-noise detection")).data)


def _find(model: Any, pk: int | None, field: str) -> Any:
    if pk is None:
        return None
    row = model.objects.filter(pk=pk).first()
    if row is None:
        raise ValidationError({field: f"There is no {field.replace('_', ' ')} {pk}."})
    return row
