"""REST API for the model registry: list and read versions, promote one, roll back.

Reading is open to every authenticated user (a session or an API token); promotion and rollback to ML
admins. Errors come as ``{"error": {"code": ..., "message": ..., "fields": {...}}}``.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from apps.common.roles import IsMlAdmin
from apps.registry.models import ModelVersion, Promotion
from apps.registry.selectors import current_model_version, model_version_list, promotion_history
from apps.registry.services import PromotionError, model_version_promote, model_version_rollback

REASON_MAX_LENGTH = 2_000
HISTORY_MAX = 500


# --- Errors ----------------------------------------------------------------------------------------------


def error_response(*, code: str, message: str, http_status: int, fields: dict[str, str] | None = None) -> Response:
    return Response({"error": {"code": code, "message": message, "fields": fields or {}}}, status=http_status)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with its body rewritten into the error envelope (headers such as WWW-Authenticate kept)."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        fields, general = _validation_messages(exc.detail)
        message = " ".join(general) or "The request has errors; see fields for what to change."
        code = "invalid"
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        fields, message = {}, str(detail)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
    response.data = {"error": {"code": code, "message": message, "fields": fields}}
    return response


def _validation_messages(detail: Any) -> tuple[dict[str, str], list[str]]:
    if isinstance(detail, dict):
        fields = {
            str(name): " ".join(str(item) for item in (value if isinstance(value, list) else [value]))
            for name, value in detail.items()
            if name != "non_field_errors"
        }
        general = [str(item) for item in detail.get("non_field_errors", [])]
        return fields, general
    items = detail if isinstance(detail, list) else [detail]
    return {}, [str(item) for item in items]


class RegistryView(APIView):
    def get_exception_handler(self) -> Any:
        return api_exception_handler


# --- Serializers -----------------------------------------------------------------------------------------


class ModelVersionSerializer(serializers.ModelSerializer):
    snapshot = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField()

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
            "artifact_size",
            "created_at",
        ]

    def get_snapshot(self, version: ModelVersion) -> dict[str, Any] | None:
        snapshot = version.snapshot
        if snapshot is None:
            return None
        return {"id": snapshot.pk, "name": snapshot.name, "content_hash": snapshot.content_hash}

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


class PromotionSerializer(serializers.ModelSerializer):
    promoted_by = serializers.SerializerMethodField()

    class Meta:
        model = Promotion
        fields = ["id", "action", "from_version", "to_version", "promoted_by", "reason", "forced", "created_at"]

    def get_promoted_by(self, promotion: Promotion) -> str | None:
        return promotion.promoted_by.get_username() if promotion.promoted_by is not None else None


class RollbackInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=REASON_MAX_LENGTH)


class PromoteInput(RollbackInput):
    force = serializers.BooleanField(required=False, default=False)


# --- Views -----------------------------------------------------------------------------------------------


class ModelVersionListView(RegistryView):
    """GET /api/models/: every version, newest first."""

    def get(self, request: Request) -> Response:
        return Response(ModelVersionSerializer(model_version_list(), many=True).data)


class ModelVersionDetailView(RegistryView):
    """GET /api/models/<id>/: one version with its manifest."""

    def get(self, request: Request, pk: int) -> Response:
        return Response(ModelVersionDetailSerializer(_version_or_404(pk)).data)


class CurrentModelVersionView(RegistryView):
    """GET /api/models/current/: the version that serves predictions."""

    def get(self, request: Request) -> Response:
        version = current_model_version()
        if version is None:
            return error_response(
                code="no_current_version",
                message="No model version is current yet: an ML admin has to promote one.",
                http_status=status.HTTP_404_NOT_FOUND,
            )
        return Response(ModelVersionDetailSerializer(version).data)


class PromotionHistoryView(RegistryView):
    """GET /api/models/promotions/?limit=50: the latest promotions and rollbacks, newest first."""

    def get(self, request: Request) -> Response:
        raw = request.query_params.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= HISTORY_MAX:
            raise ValidationError({"limit": f"limit must be a whole number from 1 to {HISTORY_MAX}."})
        return Response(PromotionSerializer(promotion_history(limit=int(raw)), many=True).data)


class PromoteView(RegistryView):
    """POST /api/models/<id>/promote/ {"reason": "...", "force": false}: make the version current."""

    permission_classes = [IsAuthenticated, IsMlAdmin]

    def post(self, request: Request, pk: int) -> Response:
        body = PromoteInput(data=request.data)
        body.is_valid(raise_exception=True)
        version = _version_or_404(pk)
        try:
            promotion = model_version_promote(
                version=version,
                by=request.user,
                reason=body.validated_data["reason"],
                force=body.validated_data["force"],
            )
        except PromotionError as error:
            return _refused(error)
        return Response(_change_body(promotion))


class RollbackView(RegistryView):
    """POST /api/models/rollback/ {"reason": "..."}: make the previously current version current again."""

    permission_classes = [IsAuthenticated, IsMlAdmin]

    def post(self, request: Request) -> Response:
        body = RollbackInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            promotion = model_version_rollback(by=request.user, reason=body.validated_data["reason"])
        except PromotionError as error:
            return _refused(error)
        return Response(_change_body(promotion))


def _version_or_404(pk: int) -> ModelVersion:
    version = model_version_list().filter(pk=pk).first()
    if version is None:
        raise NotFound(f"There is no model version {pk}.")
    return version


def _refused(error: PromotionError) -> Response:
    return error_response(code="promotion_refused", message=str(error), http_status=status.HTTP_400_BAD_REQUEST)


def _change_body(promotion: Promotion) -> dict[str, Any]:
    current = model_version_list().get(pk=promotion.to_version_id)
    return {"promotion": PromotionSerializer(promotion).data, "current": ModelVersionDetailSerializer(current).data}
