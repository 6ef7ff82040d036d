"""``POST /api/predict``: one review (``{"text": ...}``) or up to PREDICTION_MAX_BATCH (``{"texts": [...]}``),
answered with label, confidence and the model version that answered; every prediction is stored.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import ApiError, invalid
from apps.api.permissions import PREDICT
from apps.api.throttles import PredictThrottle
from apps.api.views import ApiView
from apps.common.roles import signed_in
from apps.predictions.choices import PredictionSource
from apps.predictions.models import Prediction
from apps.predictions.services import PredictionInputError, prediction_create_many
from apps.predictions.serving import ModelUnavailable, NoCurrentModel
from apps.registry.models import ModelVersion
from apps.reviews.choices import Label

PREDICTION_EXAMPLE = {
    "label": "positive",
    "label_id": 1,
    "confidence": 0.9731,
    "probabilities": {"negative": 0.0269, "positive": 0.9731},
    "model_version": 9,
    "prediction_id": 120453,
    "members": [],
}
PREDICT_RESPONSE_EXAMPLE = {
    "predictions": [PREDICTION_EXAMPLE],
    "model_version": {
        "id": 9,
        "kind": "transformer",
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "snapshot": 3,
        "test_accuracy": 0.9232,
        "test_f1": 0.9236,
        "created_at": "2025-05-01T09:52:40+00:00",
    },
    "latency_ms": 38.2,
}
ENSEMBLE_RESPONSE_EXAMPLE = {
    "predictions": [
        {
            **PREDICTION_EXAMPLE,
            "confidence": 0.9912,
            "probabilities": {"negative": 0.0088, "positive": 0.9912},
            "model_version": 12,
            "members": [
                {"model_version": 9, "kind": "transformer", "weight": 0.71, "prob_positive": 0.9731},
                {"model_version": 8, "kind": "tfidf", "weight": 1.42, "prob_positive": 0.8816},
            ],
        }
    ],
    "model_version": {**PREDICT_RESPONSE_EXAMPLE["model_version"], "id": 12, "kind": "ensemble", "base_model": ""},  # type: ignore[dict-item]
    "latency_ms": 41.7,
}


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
    text = ReviewTextField(required=False, help_text="One review. Send this or texts.")
    texts = serializers.ListField(
        child=ReviewTextField(),
        required=False,
        allow_empty=True,
        error_messages={"not_a_list": 'Send "texts" as a JSON list of strings.'},
        help_text="Several reviews (at most PREDICTION_MAX_BATCH, 64 by default), answered in order.",
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


class ProbabilitiesSerializer(serializers.Serializer):
    negative = serializers.FloatField()
    positive = serializers.FloatField()


class EnsembleMemberAnswerSerializer(serializers.Serializer):
    model_version = serializers.IntegerField(help_text="The member version.")
    kind = serializers.CharField()
    weight = serializers.FloatField(help_text="The weight the ensemble gives this member's log-odds.")
    prob_positive = serializers.FloatField(help_text="This member's own probability that the review is positive.")


class PredictionAnswerSerializer(serializers.Serializer):
    label = serializers.ChoiceField(choices=["negative", "positive"])  # type: ignore[assignment]  # a field named "label" shadows Field.label in the stubs
    label_id = serializers.IntegerField(help_text="0 negative, 1 positive.")
    confidence = serializers.FloatField(help_text="The probability of the label given.")
    probabilities = ProbabilitiesSerializer()
    model_version = serializers.IntegerField(
        help_text="The version that answered: the current one, or the TF-IDF screen for reviews it is sure of."
    )
    prediction_id = serializers.IntegerField(help_text="The stored prediction, at /api/predictions/{id}/.")
    members = EnsembleMemberAnswerSerializer(
        many=True, help_text="When an ensemble answered: each member's own answer and weight; empty otherwise."
    )


class ServedVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    base_model = serializers.CharField(allow_blank=True)
    snapshot = serializers.IntegerField(allow_null=True)
    test_accuracy = serializers.FloatField(allow_null=True)
    test_f1 = serializers.FloatField(allow_null=True)
    created_at = serializers.CharField()


class PredictResponseSerializer(serializers.Serializer):
    predictions = PredictionAnswerSerializer(many=True)
    model_version = ServedVersionSerializer(help_text="The version that was current for this request.")
    latency_ms = serializers.FloatField(allow_null=True, help_text="How long the model took for the whole request.")


def prediction_data(prediction: Prediction) -> dict[str, Any]:
    # Plain dicts rather than ModelSerializers: building serializer fields costs more than the TF-IDF model itself.
    return {
        "label": Label(prediction.label).label,
        "label_id": prediction.label,
        "confidence": prediction.confidence,
        "probabilities": {"negative": prediction.prob_negative, "positive": prediction.prob_positive},
        "model_version": prediction.model_version_id,
        "prediction_id": prediction.pk,
        "members": [
            {
                "model_version": member["model_version_id"],
                "kind": member["kind"],
                "weight": member["weight"],
                "prob_positive": member["prob_positive"],
            }
            for member in getattr(prediction, "members", ())
        ],
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


class PredictView(ApiView):
    """Predict the sentiment of one review or a list of them with the current model; every prediction is stored."""

    required = {"POST": PREDICT}
    parser_classes = [JSONParser]
    throttle_classes = [PredictThrottle]

    @extend_schema(
        tags=["predictions"],
        description=(
            'Send `{"text": "..."}` for one review or `{"texts": ["...", ...]}` for up to 64. The answer gives, '
            "in order, each review's label, confidence, both probabilities and the model version that answered, "
            "and the version that was current. A promotion takes effect at the next request. 503 while no "
            "version is current."
        ),
        request=PredictRequestSerializer,
        responses={200: PredictResponseSerializer, 503: None},
        examples=[
            OpenApiExample("One review", value={"text": "A moving film with a superb cast."}, request_only=True),
            OpenApiExample(
                "Several reviews",
                value={"texts": ["A moving film with a superb cast.", "Tedious and far too long."]},
                request_only=True,
            ),
            OpenApiExample("The answer", value=PREDICT_RESPONSE_EXAMPLE, response_only=True),
            OpenApiExample("An ensemble's answer", value=ENSEMBLE_RESPONSE_EXAMPLE, response_only=True),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = PredictRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        single = "text" in serializer.validated_data
        field = "text" if single else "texts"
        texts = [serializer.validated_data["text"]] if single else serializer.validated_data["texts"]
        try:
            predictions = prediction_create_many(texts=texts, source=PredictionSource.API, user=signed_in(request))
        except PredictionInputError as error:
            # The service names problems "texts[i]"; a single review is the body's "text".
            raise invalid({(field if single else name): message for name, message in error.errors.items()}) from None
        except NoCurrentModel as error:
            raise ApiError(status.HTTP_503_SERVICE_UNAVAILABLE, "no_current_model", str(error)) from None
        except ModelUnavailable as error:
            raise ApiError(status.HTTP_503_SERVICE_UNAVAILABLE, "model_unavailable", str(error)) from None
        served = predictions[0].served_version
        return Response(
            {
                "predictions": [prediction_data(prediction) for prediction in predictions],
                "model_version": model_version_data(served),
                "latency_ms": predictions[0].latency_ms,
            }
        )
