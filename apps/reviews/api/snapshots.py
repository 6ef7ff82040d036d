"""``/api/snapshots/``: freeze the labelled reviews into a snapshot; read one with its counts and hash."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import invalid
from apps.api.idempotency import idempotent
from apps.api.permissions import MANAGE, READ_DATA
from apps.api.views import ApiListView, ApiView, created, get_or_404
from apps.common.roles import signed_in
from apps.reviews.choices import LabelSource
from apps.reviews.models import DatasetSnapshot
from apps.reviews.snapshots import (
    MAX_SEED,
    SnapshotError,
    snapshot_create,
    snapshot_label_counts,
)

SNAPSHOT_EXAMPLE = {
    "id": 3,
    "name": "Gold labels, seed 42, 50,000 reviews",
    "description": "",
    "label_source": "gold",
    "seed": 42,
    "keeps_origin_split": False,
    "train_fraction": 0.8,
    "validation_fraction": 0.1,
    "test_fraction": 0.1,
    "content_hash": "9f2d1c0b7e6a5d4c3b2a19f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a",
    "train_count": 40000,
    "validation_count": 5000,
    "test_count": 5000,
    "positive_count": 25000,
    "negative_count": 25000,
    "created_at": "2025-05-01T09:30:00Z",
}
SNAPSHOT_DETAIL_EXAMPLE = {
    **SNAPSHOT_EXAMPLE,
    "label_counts": {
        "train": {"negative": 20000, "positive": 20000},
        "validation": {"negative": 2500, "positive": 2500},
        "test": {"negative": 2500, "positive": 2500},
    },
}


class SnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = DatasetSnapshot
        fields = [
            "id", "name", "description", "label_source", "seed", "keeps_origin_split", "train_fraction",
            "validation_fraction", "test_fraction", "content_hash", "train_count", "validation_count", "test_count", "positive_count",
            "negative_count", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class LabelCountsSerializer(serializers.Serializer):
    negative = serializers.IntegerField()
    positive = serializers.IntegerField()


class SplitLabelCountsSerializer(serializers.Serializer):
    train = LabelCountsSerializer()
    validation = LabelCountsSerializer()
    test = LabelCountsSerializer()


class SnapshotDetailSerializer(SnapshotSerializer):
    label_counts = serializers.SerializerMethodField()

    class Meta(SnapshotSerializer.Meta):
        fields = [*SnapshotSerializer.Meta.fields, "label_counts"]
        read_only_fields = fields

    @extend_schema_field(SplitLabelCountsSerializer)
    def get_label_counts(self, snapshot: DatasetSnapshot) -> dict[str, dict[str, int]]:
        counts = snapshot_label_counts(snapshot=snapshot)
        return {split: {"negative": row[0], "positive": row[1]} for split, row in counts.items()}


class SnapshotCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=10_000, required=False, allow_blank=True, default="")
    label_source = serializers.ChoiceField(choices=LabelSource.choices, default=LabelSource.GOLD)
    seed = serializers.IntegerField(min_value=0, max_value=MAX_SEED, default=42)
    train_fraction = serializers.FloatField(min_value=0, max_value=1, default=0.8)
    validation_fraction = serializers.FloatField(min_value=0, max_value=1, default=0.1)
    test_fraction = serializers.FloatField(min_value=0, max_value=1, default=0.1)
    keep_origin_split = serializers.BooleanField(
        default=False,
        help_text=(
            "Keep the source's own split (IMDb's 25,000 / 25,000, the standard benchmark): its test half is the test "
            "split and validation_fraction of its train half is validation; train_fraction and test_fraction are "
            "not used."
        ),
    )


# --- Snapshots -------------------------------------------------------------------------------------------


class SnapshotListView(ApiListView):
    """Dataset snapshots, newest first; POST freezes the labelled reviews into a new one."""

    required = {"GET": READ_DATA, "POST": MANAGE}
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["snapshots"],
        responses=SnapshotSerializer(many=True),
        examples=[OpenApiExample("A snapshot", value=SNAPSHOT_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return self.page(DatasetSnapshot.objects.all(), SnapshotSerializer)

    @extend_schema(
        tags=["snapshots"],
        description=(
            "Freeze the labelled reviews into a snapshot with a seeded, stratified train/validation/test split. "
            "The same seed over the same reviews always gives the same split, and so the same `content_hash`. "
            "`label_source`: `gold` (the dataset's labels), `human` (resolved human labels) or `gold_and_human`."
        ),
        request=SnapshotCreateSerializer,
        responses={201: SnapshotDetailSerializer},
        examples=[
            OpenApiExample(
                "The seed project's 80/10/10 split",
                value={
                    "name": "IMDb gold",
                    "seed": 42,
                    "train_fraction": 0.8,
                    "validation_fraction": 0.1,
                    "test_fraction": 0.1,
                    "label_source": "gold",
                },
                request_only=True,
            ),
            OpenApiExample(
                "The standard benchmark: IMDb's own train and test halves",
                value={"name": "IMDb benchmark", "seed": 42, "validation_fraction": 0.1, "keep_origin_split": True},
                request_only=True,
            ),
            OpenApiExample("Created", value=SNAPSHOT_DETAIL_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        body = SnapshotCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            snapshot = snapshot_create(**body.validated_data, created_by=signed_in(request))
        except SnapshotError as error:
            raise invalid({"body": str(error)}) from None
        return created(SnapshotDetailSerializer(snapshot).data, f"/api/snapshots/{snapshot.pk}/")


class SnapshotDetailView(ApiView):
    """One snapshot: its split sizes, the label counts of each split and its content hash."""

    required = {"GET": READ_DATA}

    @extend_schema(
        tags=["snapshots"],
        responses=SnapshotDetailSerializer,
        examples=[OpenApiExample("A snapshot", value=SNAPSHOT_DETAIL_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(SnapshotDetailSerializer(get_or_404(DatasetSnapshot.objects.all(), pk, "snapshot")).data)
