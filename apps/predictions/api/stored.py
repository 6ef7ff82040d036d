"""The stored predictions: ``/api/predictions/`` and ``/api/predictions/<id>/``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.fields import IdFilterField, LabelField, QueryFilters
from apps.api.permissions import PREDICT, READ_DATA, can
from apps.api.views import ApiListView, ApiView, get_or_404
from apps.common.roles import signed_in
from apps.predictions.api.predict import ProbabilitiesSerializer
from apps.predictions.choices import PredictionSource
from apps.predictions.models import Prediction

STORED_PREDICTION_EXAMPLE = {
    "id": 120453,
    "text": "A moving film with a superb cast.",
    "review": None,
    "model_version": 9,
    "label": "positive",
    "confidence": 0.9731,
    "probabilities": {"negative": 0.0269, "positive": 0.9731},
    "source": "api",
    "user": "crm-bot",
    "batch_job": None,
    "latency_ms": 38.2,
    "created_at": "2025-05-02T08:00:12Z",
}


class StoredPredictionSerializer(serializers.ModelSerializer):
    text = serializers.CharField(
        source="shown_text", read_only=True, help_text="The text predicted (a batch prediction's is its review's)."
    )
    label = LabelField()  # type: ignore[assignment]  # a field named "label" shadows Field.label in the stubs
    probabilities = serializers.SerializerMethodField()
    user = serializers.SerializerMethodField()

    class Meta:
        model = Prediction
        fields = [
            "id", "text", "review", "model_version", "label", "confidence", "probabilities", "source", "user",
            "batch_job", "latency_ms", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(ProbabilitiesSerializer)
    def get_probabilities(self, prediction: Prediction) -> dict[str, float]:
        return {"negative": prediction.prob_negative, "positive": prediction.prob_positive}

    def get_user(self, prediction: Prediction) -> str | None:
        user = prediction.user
        return user.get_username() if user is not None else None


class PredictionFilterSerializer(QueryFilters):
    model_version = IdFilterField()
    review = IdFilterField()
    batch_job = IdFilterField()
    source = serializers.ChoiceField(choices=PredictionSource.choices, required=False)  # type: ignore[assignment]  # a field named "source" shadows Field.source in the stubs
    label = serializers.ChoiceField(choices=["negative", "positive"], required=False)  # type: ignore[assignment]  # a field named "label" shadows Field.label in the stubs
    min_confidence = serializers.FloatField(required=False, min_value=0, max_value=1)
    max_confidence = serializers.FloatField(required=False, min_value=0, max_value=1)
    created_after = serializers.DateTimeField(required=False, help_text="ISO 8601, e.g. 2025-05-01T00:00:00Z.")
    created_before = serializers.DateTimeField(required=False)


class PredictionListView(ApiListView):
    """Stored predictions (form, API and batch jobs), newest first, with filters.

    Analysts and ML admins see every prediction; an integration sees the predictions it asked for.
    """

    required = {"GET": PREDICT}

    @extend_schema(
        tags=["predictions"],
        parameters=[PredictionFilterSerializer],
        responses=StoredPredictionSerializer(many=True),
        examples=[OpenApiExample("A prediction", value=STORED_PREDICTION_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        query = PredictionFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        wanted = query.validated_data
        predictions = _visible_predictions(request).select_related("user", "review")
        for name in ("model_version", "review", "batch_job"):
            if name in wanted:
                predictions = predictions.filter(**{f"{name}_id": wanted[name]})
        if "source" in wanted:
            predictions = predictions.filter(source=wanted["source"])
        if "label" in wanted:
            predictions = predictions.filter(label=LabelField().to_internal_value(wanted["label"]))
        lookups = {
            "min_confidence": "confidence__gte",
            "max_confidence": "confidence__lte",
            "created_after": "created_at__gte",
            "created_before": "created_at__lt",
        }
        for name, lookup in lookups.items():
            if name in wanted:
                predictions = predictions.filter(**{lookup: wanted[name]})
        return self.page(predictions, StoredPredictionSerializer)


class PredictionDetailView(ApiView):
    """One stored prediction."""

    required = {"GET": PREDICT}

    @extend_schema(
        tags=["predictions"],
        responses=StoredPredictionSerializer,
        examples=[OpenApiExample("A prediction", value=STORED_PREDICTION_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        prediction = get_or_404(_visible_predictions(request).select_related("user", "review"), pk, "prediction")
        return Response(StoredPredictionSerializer(prediction).data)


def _visible_predictions(request: Request) -> Any:
    predictions = Prediction.objects.all()
    if not can(request.user, READ_DATA):
        predictions = predictions.filter(user=signed_in(request))
    return predictions
