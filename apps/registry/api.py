"""REST API for the model registry: list and read versions and their model cards, promote one, roll back.

Reading is open to analysts, ML admins and integrations; promotion and rollback to ML admins. Errors
come in the API's one envelope (apps.api.errors).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import ApiError
from apps.api.permissions import MANAGE, READ_MODELS
from apps.api.views import ApiView, get_or_404
from apps.common.roles import signed_in
from apps.registry.models import ModelVersion, Promotion
from apps.registry.selectors import (
    current_model_version,
    model_version_card,
    model_version_list,
    promotion_history,
)
from apps.registry.services import (
    PromotionError,
    model_version_promote,
    model_version_rollback,
)

REASON_MAX_LENGTH = 2_000
HISTORY_MAX = 500

VERSION_EXAMPLE: dict[str, Any] = {
    "id": 9,
    "kind": "transformer",
    "base_model": "sentence-transformers/all-MiniLM-L6-v2",
    "is_current": True,
    "training_run": 17,
    "snapshot": {"id": 3, "name": "IMDb gold", "content_hash": "9f2d1c0b7e6a5d4c3b2a19f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a"},
    "metrics": {
        "accuracy": 0.9232, "f1": 0.9236, "precision": 0.9187, "recall": 0.9286, "f1_macro": 0.9232,
        "confusion_matrix": [[2291, 209], [178, 2322]],
    },
    "members": [],
    "artifact_size": 91_234_567,
    "created_at": "2025-05-01T09:52:40Z",
}  # fmt: skip
VERSION_DETAIL_EXAMPLE = {
    **VERSION_EXAMPLE,
    "artifact_path": "17-3fa9c2d1",
    "manifest": {"kind": "transformer", "format_version": 1},
}
PROMOTION_EXAMPLE = {
    "id": 4,
    "action": "promote",
    "from_version": 7,
    "to_version": 9,
    "promoted_by": "mladmin",
    "reason": "Higher test F1 on the same snapshot.",
    "forced": False,
    "created_at": "2025-05-01T10:00:00Z",
}
CARD_EXAMPLE = {
    "model_version": 9,
    "kind": "transformer",
    "base_model": "sentence-transformers/all-MiniLM-L6-v2",
    "created_at": "2025-05-01T09:52:40+00:00",
    "metrics": {"accuracy": 0.9232, "precision": 0.9187, "recall": 0.9286, "f1": 0.9236, "f1_macro": 0.9232, "support": 5000, "confusion_matrix": [[2291, 209], [178, 2322]]},
    "hyperparameters": {"kind": "transformer", "learning_rate": 2e-05, "batch_size": 16, "epochs": 2, "max_length": 256},
    "lineage": {"training_run_id": 17, "snapshot_id": 3, "snapshot_content_hash": "9f2d1c0b7e6a..."},
    "data_sizes": {"train": 40000, "validation": 5000, "test": 5000},
    "epochs": [{"epoch": 1, "train_loss": 0.3021, "validation_loss": 0.2214, "validation_accuracy": 0.9102, "validation_f1": 0.911}],
    "markdown": "# Sentiment model: fine-tuned sentence-transformers/all-MiniLM-L6-v2\n\n...",
}  # fmt: skip


# --- Serializers -----------------------------------------------------------------------------------------


class SnapshotRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_hash = serializers.CharField()


class VersionMetricsSerializer(serializers.Serializer):
    accuracy = serializers.FloatField(allow_null=True)
    f1 = serializers.FloatField(allow_null=True)
    precision = serializers.FloatField(allow_null=True, required=False)
    recall = serializers.FloatField(allow_null=True, required=False)
    f1_macro = serializers.FloatField(allow_null=True, required=False)
    confusion_matrix = serializers.JSONField(required=False)


class EnsembleMemberSerializer(serializers.Serializer):
    model_version = serializers.IntegerField(source="member_id")
    position = serializers.IntegerField()
    weight = serializers.FloatField(help_text="The weight of this member's positive-class log-odds.")


class ModelVersionSerializer(serializers.ModelSerializer):
    snapshot = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField()
    members = EnsembleMemberSerializer(
        source="memberships", many=True, read_only=True, help_text="An ensemble's members and weights; empty otherwise."
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "kind",
            "base_model",
            "is_current",
            "training_run",
            "snapshot",
            "metrics",
            "members",
            "artifact_size",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(SnapshotRefSerializer(allow_null=True))
    def get_snapshot(self, version: ModelVersion) -> dict[str, Any] | None:
        snapshot = version.snapshot
        if snapshot is None:
            return None
        return {"id": snapshot.pk, "name": snapshot.name, "content_hash": snapshot.content_hash}

    @extend_schema_field(VersionMetricsSerializer)
    def get_metrics(self, version: ModelVersion) -> dict[str, Any]:
        """Test-split metrics: the run's full set where there is a run, else what the version records."""
        run = version.training_run
        metrics: dict[str, Any] = {"accuracy": version.test_accuracy, "f1": version.test_f1}
        if run is not None:
            metrics.update(
                precision=run.precision,
                recall=run.recall,
                f1_macro=run.f1_macro,
                confusion_matrix=run.confusion_matrix,
            )
        return metrics


class ModelVersionDetailSerializer(ModelVersionSerializer):
    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "artifact_path", "manifest"]
        read_only_fields = fields


class ModelCardSerializer(serializers.Serializer):
    model_version = serializers.IntegerField()
    kind = serializers.CharField()
    base_model = serializers.CharField(allow_null=True)
    created_at = serializers.CharField(allow_null=True, help_text="When the artifacts were written.")
    metrics = serializers.DictField(help_text="Test-split metrics, the confusion matrix and the support.")
    hyperparameters = serializers.DictField()
    lineage = serializers.DictField(help_text="The training run and snapshot (with its content hash) it came from.")
    data_sizes = serializers.DictField(child=serializers.IntegerField())
    epochs = serializers.ListField(child=serializers.DictField(), help_text="Validation metrics per epoch.")
    markdown = serializers.CharField(
        allow_null=True,
        help_text="The model card as written beside the weights (README.md); null if the folder has none.",
    )


class PromotionSerializer(serializers.ModelSerializer):
    promoted_by = serializers.SerializerMethodField()

    class Meta:
        model = Promotion
        fields = ["id", "action", "from_version", "to_version", "promoted_by", "reason", "forced", "created_at"]
        read_only_fields = fields

    def get_promoted_by(self, promotion: Promotion) -> str | None:
        return promotion.promoted_by.get_username() if promotion.promoted_by is not None else None


class PromotionChangeSerializer(serializers.Serializer):
    promotion = PromotionSerializer()
    current = ModelVersionDetailSerializer()


class RollbackInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=REASON_MAX_LENGTH)


class PromoteInput(RollbackInput):
    force = serializers.BooleanField(
        required=False, default=False, help_text="Promote even if its test accuracy is lower; needs a reason."
    )


# --- Views -----------------------------------------------------------------------------------------------


class ModelVersionListView(ApiView):
    """Every model version, newest first, with its test metrics and snapshot."""

    required = {"GET": READ_MODELS}

    @extend_schema(
        tags=["models"],
        responses=ModelVersionSerializer(many=True),
        examples=[OpenApiExample("A version", value=VERSION_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return Response(ModelVersionSerializer(model_version_list(), many=True).data)


class ModelVersionDetailView(ApiView):
    """One model version with its manifest (files and checksums, hyperparameters, lineage)."""

    required = {"GET": READ_MODELS}

    @extend_schema(
        tags=["models"],
        responses=ModelVersionDetailSerializer,
        examples=[OpenApiExample("A version", value=VERSION_DETAIL_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(ModelVersionDetailSerializer(get_or_404(model_version_list(), pk, "model version")).data)


class ModelCardView(ApiView):
    """A version's model card: intended use, data lineage, hyperparameters, test metrics, limitations."""

    required = {"GET": READ_MODELS}

    @extend_schema(
        tags=["models"],
        description=(
            "The model card: what the model is for, the snapshot (with its content hash) it was trained on, its "
            "hyperparameters, test metrics and confusion matrix, validation metrics per epoch and its "
            "limitations; structured from the manifest, and as the Markdown written beside the weights."
        ),
        responses=ModelCardSerializer,
        examples=[OpenApiExample("A model card", value=CARD_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        version = get_or_404(model_version_list(), pk, "model version")
        manifest = version.manifest if isinstance(version.manifest, dict) else {}
        return Response(
            {
                "model_version": version.pk,
                "kind": version.kind,
                "base_model": version.base_model or manifest.get("base_model"),
                "created_at": manifest.get("created_at"),
                "metrics": manifest.get("metrics") or {"accuracy": version.test_accuracy, "f1": version.test_f1},
                "hyperparameters": manifest.get("hyperparameters") or {},
                "lineage": manifest.get("lineage") or {},
                "data_sizes": manifest.get("data_sizes") or {},
                "epochs": manifest.get("epochs") or [],
                "markdown": model_version_card(version=version),
            }
        )


class CurrentModelVersionView(ApiView):
    """The version that serves predictions."""

    required = {"GET": READ_MODELS}

    @extend_schema(
        tags=["models"],
        responses={200: ModelVersionDetailSerializer, 404: None},
        examples=[OpenApiExample("The current version", value=VERSION_DETAIL_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        version = current_model_version()
        if version is None:
            raise ApiError(
                404, "no_current_version", "No model version is current yet: an ML admin has to promote one."
            )
        return Response(ModelVersionDetailSerializer(version).data)


class PromotionHistoryView(ApiView):
    """The latest promotions and rollbacks, newest first: who changed the current version, when, from what and why."""

    required = {"GET": READ_MODELS}

    @extend_schema(
        tags=["models"],
        parameters=[
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": HISTORY_MAX},
                description=f"How many, 1 to {HISTORY_MAX} (default 50).",
            )
        ],
        responses=PromotionSerializer(many=True),
        examples=[OpenApiExample("A promotion", value=PROMOTION_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= HISTORY_MAX:
            raise serializers.ValidationError({"limit": f"limit must be a whole number from 1 to {HISTORY_MAX}."})
        return Response(PromotionSerializer(promotion_history(limit=int(raw)), many=True).data)


class PromoteView(ApiView):
    """Make the version current, atomically; prediction answers switch to it at the next request."""

    required = {"POST": MANAGE}
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["models"],
        description=(
            "Make the version current. Refused (400, `promotion_refused`) when its artifact files fail their "
            "checksums, when it is current already, or when its test accuracy is below the current version's "
            "on the same snapshot, unless `force` is sent with a `reason`. Every change is recorded in "
            "`/api/models/promotions/` and sent to the `model_version.promoted` webhook."
        ),
        request=PromoteInput,
        responses=PromotionChangeSerializer,
        examples=[
            OpenApiExample("Promote", value={"reason": "Higher test F1 on the same snapshot."}, request_only=True),
            OpenApiExample(
                "Promoted",
                value={"promotion": PROMOTION_EXAMPLE, "current": VERSION_DETAIL_EXAMPLE},
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        body = PromoteInput(data=request.data)
        body.is_valid(raise_exception=True)
        version = get_or_404(model_version_list(), pk, "model version")
        try:
            promotion = model_version_promote(
                version=version,
                by=signed_in(request),
                reason=body.validated_data["reason"],
                force=body.validated_data["force"],
            )
        except PromotionError as error:
            raise _refused(error) from None
        return Response(_change_body(promotion))


class RollbackView(ApiView):
    """Make the previously current version current again."""

    required = {"POST": MANAGE}
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["models"],
        description=(
            "Make current again the version that was current before the current one was promoted; repeated "
            "rollbacks walk further back. Refused (400, `promotion_refused`) when there is nothing to go back to."
        ),
        request=RollbackInput,
        responses=PromotionChangeSerializer,
        examples=[
            OpenApiExample(
                "Roll back", value={"reason": "Accuracy dropped on this week's reviews."}, request_only=True
            ),
            OpenApiExample(
                "Rolled back",
                value={
                    "promotion": {**PROMOTION_EXAMPLE, "action": "rollback", "from_version": 9, "to_version": 7},
                    "current": {**VERSION_DETAIL_EXAMPLE, "id": 7},
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        body = RollbackInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            promotion = model_version_rollback(by=signed_in(request), reason=body.validated_data["reason"])
        except PromotionError as error:
            raise _refused(error) from None
        return Response(_change_body(promotion))


def _refused(error: PromotionError) -> ApiError:
    return ApiError(400, "promotion_refused", str(error))


def _change_body(promotion: Promotion) -> dict[str, Any]:
    current = model_version_list().get(pk=promotion.to_version_id)
    return {"promotion": PromotionSerializer(promotion).data, "current": ModelVersionDetailSerializer(current).data}
