"""``POST /api/predict``: one review (``{"text": ...}``) or up to PREDICTION_MAX_BATCH (``{"texts": [...]}``).

Every failure answers ``{"error": {"code", "message", "fields"}}``: 400 for a bad body, 401/403 without
valid credentials, 503 while no model can answer.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from apps.common.authentication import ApiTokenAuthentication
from apps.predictions.choices import PredictionSource
from apps.predictions.models import Prediction
from apps.predictions.predictor import ModelUnavailable, NoCurrentModel
from apps.predictions.services import PredictionInputError, prediction_create_many
from apps.registry.models import ModelVersion
from apps.reviews.choices import Label


class ReviewTextField(serializers.CharField):
    """A review's text: a JSON string and nothing else (no numbers turned into text); limits are the service's."""

    default_error_messages = {"invalid": "Each review must be a JSON string of text."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(trim_whitespace=False, allow_blank=True, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class PredictRequestSerializer(serializers.Serializer):
    text = ReviewTextField(required=False)
    texts = serializers.ListField(
        child=ReviewTextField(),
        required=False,
        allow_empty=True,
        error_messages={"not_a_list": 'Send "texts" as a JSON list of strings.'},
    )

    default_error_messages = {
        # Doubled braces: DRF formats these messages with str.format.
        "invalid": 'Send a JSON object: {{"text": "..."}} for one review or {{"texts": ["...", ...]}} for several.'
    }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "text" in attrs and "texts" in attrs:
            raise serializers.ValidationError({"texts": 'Send either "text" or "texts", not both.'})
        if "text" not in attrs and "texts" not in attrs:
            raise serializers.ValidationError(
                {"text": 'Missing review: send {"text": "..."} for one review or {"texts": ["...", ...]} for several.'}
            )
        return attrs


def prediction_data(prediction: Prediction) -> dict[str, Any]:
    # Plain dicts rather than ModelSerializers: building serializer fields costs more than the TF-IDF model itself.
    return {
        "label": Label(prediction.label).label,
        "label_id": prediction.label,
        "confidence": prediction.confidence,
        "probabilities": {"negative": prediction.prob_negative, "positive": prediction.prob_positive},
        "model_version": prediction.model_version_id,
        "prediction_id": prediction.pk,
    }


def model_version_data(version: ModelVersion) -> dict[str, Any]:
    return {
        "id": version.pk,
        "kind": version.kind,
        "base_model": version.base_model,
        "snapshot": version.snapshot_id,
        "test_accuracy": version.test_accuracy,
        "test_f1": version.test_f1,
        "created_at": version.created_at.isoformat(),
    }


def _flat_fields(detail: Any, prefix: str = "") -> dict[str, str]:
    """DRF's nested error lists as one message per field ("texts[2]": "...")."""
    if isinstance(detail, dict):
        fields: dict[str, str] = {}
        for key, value in detail.items():
            name = "body" if key == "non_field_errors" else str(key)
            place = f"{prefix}[{name}]" if prefix and str(key).isdigit() else f"{prefix}.{name}" if prefix else name
            fields.update(_flat_fields(value, place))
        return fields
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {prefix or "body": " ".join(str(item) for item in detail)}
        fields = {}
        for item in detail:
            fields.update(_flat_fields(item, prefix))
        return fields
    return {prefix or "body": str(detail)}


def error_response(code: str, message: str, http_status: int, fields: dict[str, str] | None = None) -> Response:
    return Response({"error": {"code": code, "message": message, "fields": fields or {}}}, status=http_status)


def predict_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's errors in this API's error shape."""
    if isinstance(exc, exceptions.ParseError):
        exc.detail = "The request body is not valid JSON in UTF-8: check quotes, commas and the text's encoding."
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flat_fields(exc.detail)
        message = " ".join(fields.values())
    else:
        fields = {}
        message = str(getattr(exc, "detail", exc))
    code = getattr(exc, "default_code", "error")
    response.data = {"error": {"code": code, "message": message, "fields": fields}}
    return response


class PredictView(APIView):
    """Predict the sentiment of one review or a list of them with the current model; every prediction is stored."""

    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    def get_exception_handler(self) -> Any:
        return predict_exception_handler

    def post(self, request: Request) -> Response:
        serializer = PredictRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        single = "text" in serializer.validated_data
        field = "text" if single else "texts"
        texts = [serializer.validated_data["text"]] if single else serializer.validated_data["texts"]
        try:
            predictions = prediction_create_many(texts=texts, source=PredictionSource.API, user=request.user)
        except PredictionInputError as error:
            # The service names problems "texts[i]"; a single review is the body's "text".
            fields = {(field if single else name): message for name, message in error.errors.items()}
            return error_response("invalid", " ".join(fields.values()), status.HTTP_400_BAD_REQUEST, fields)
        except NoCurrentModel as error:
            return error_response("no_current_model", str(error), status.HTTP_503_SERVICE_UNAVAILABLE)
        except ModelUnavailable as error:
            return error_response("model_unavailable", str(error), status.HTTP_503_SERVICE_UNAVAILABLE)
        served = predictions[0].served_version
        return Response(
            {
                "predictions": [prediction_data(prediction) for prediction in predictions],
                "model_version": model_version_data(served),
                "latency_ms": predictions[0].latency_ms,
            }
        )

