"""REST API for predictions: ``POST /api/predict``, the stored predictions, and batch prediction jobs.

``POST /api/predict`` takes one review (``{"text": ...}``) or up to PREDICTION_MAX_BATCH
(``{"texts": [...]}``) and answers with label, confidence and the model version that answered; every
prediction is stored and listed at ``/api/predictions/``. Batch jobs predict a whole pool of reviews
on a worker. Errors come in the API's one envelope: 400 for a bad body, 401/403 without the right
credentials, 429 over the rate limit, 503 while no model can answer.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import ApiError, conflict, invalid
from apps.api.fields import IdFilterField, LabelField, QueryFilters, RelatedIdField
from apps.api.idempotency import idempotent
from apps.api.permissions import MANAGE, PREDICT, READ_DATA, can
from apps.api.throttles import BulkThrottle, PredictThrottle
from apps.api.views import ApiListView, ApiView, created, get_or_404
from apps.common.choices import JobStatus
from apps.common.models import IllegalTransition
from apps.common.labels import QueuePool
from apps.predictions.batch import BatchJobError, batch_prediction_job_cancel, batch_prediction_job_create
from apps.predictions.choices import PredictionSource
from apps.predictions.models import BatchPredictionJob, Prediction
from apps.predictions.serving import ModelUnavailable, NoCurrentModel
from apps.predictions.services import PredictionInputError, prediction_create_many
from apps.registry.models import ModelVersion
from apps.reviews.choices import Label, Split
from apps.reviews.models import DatasetSnapshot, ImportJob

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
BATCH_JOB_EXAMPLE = {
    "id": 5,
    "status": "running",
    "model_version": 9,
    "pool": "unlabelled",
    "snapshot": None,
    "split": "",
    "import_job": None,
    "total": 50000,
    "processed": 12288,
    "created_by": "mladmin",
    "created_at": "2025-05-02T10:00:00Z",
    "updated_at": "2025-05-02T10:02:10Z",
    "started_at": "2025-05-02T10:00:02Z",
    "finished_at": None,
    "heartbeat_at": "2025-05-02T10:02:10Z",
    "cancel_requested": False,
    "worker": "gpu@worker-1",
    "error": "",
}


# --- POST /api/predict -----------------------------------------------------------------------------------


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
    label = serializers.ChoiceField(choices=["negative", "positive"])
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
            predictions = prediction_create_many(texts=texts, source=PredictionSource.API, user=request.user)
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


# --- Stored predictions ----------------------------------------------------------------------------------


class StoredPredictionSerializer(serializers.ModelSerializer):
    text = serializers.CharField(
        source="shown_text", read_only=True, help_text="The text predicted (a batch prediction's is its review's)."
    )
    label = LabelField()
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
        return prediction.user.get_username() if prediction.user_id else None


class PredictionFilterSerializer(QueryFilters):
    model_version = IdFilterField()
    review = IdFilterField()
    batch_job = IdFilterField()
    source = serializers.ChoiceField(choices=PredictionSource.choices, required=False)
    label = serializers.ChoiceField(choices=["negative", "positive"], required=False)
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
        predictions = predictions.filter(user=request.user)
    return predictions


# --- Batch prediction jobs -------------------------------------------------------------------------------


class BatchJobSerializer(serializers.ModelSerializer):
    created_by = serializers.SerializerMethodField()
    split = serializers.ChoiceField(
        choices=["", *Split.values], help_text="The snapshot split of a snapshot_split pool."
    )

    class Meta:
        model = BatchPredictionJob
        fields = [
            "id", "status", "model_version", "pool", "snapshot", "split", "import_job", "total", "processed",
            "created_by", "created_at", "updated_at", "started_at", "finished_at", "heartbeat_at",
            "cancel_requested", "worker", "error",
        ]  # fmt: skip
        read_only_fields = fields

    def get_created_by(self, job: BatchPredictionJob) -> str | None:
        return job.created_by.get_username() if job.created_by_id else None


class BatchJobDetailSerializer(BatchJobSerializer):
    class Meta(BatchJobSerializer.Meta):
        fields = [*BatchJobSerializer.Meta.fields, "log_tail"]
        read_only_fields = fields


class BatchJobCreateSerializer(serializers.Serializer):
    model_version = RelatedIdField(queryset=ModelVersion.objects.all(), what="model version")
    pool = serializers.ChoiceField(
        choices=QueuePool.choices,
        help_text="unlabelled (no gold label), snapshot_split (needs snapshot and split), import (needs import_job) or all.",
    )
    snapshot = RelatedIdField(
        queryset=DatasetSnapshot.objects.all(), what="snapshot", required=False, allow_null=True, default=None
    )
    split = serializers.ChoiceField(choices=["", *Split.values], required=False, default="")
    import_job = RelatedIdField(
        queryset=ImportJob.objects.all(), what="import", required=False, allow_null=True, default=None
    )


class BatchJobFilterSerializer(QueryFilters):
    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)
    model_version = IdFilterField()


class BatchJobListView(ApiListView):
    """Batch prediction jobs, newest first; POST queues one over a pool of reviews."""

    required = {"GET": READ_DATA, "POST": MANAGE}
    parser_classes = [JSONParser]
    throttle_classes = [BulkThrottle]

    @extend_schema(
        tags=["batch predictions"],
        parameters=[BatchJobFilterSerializer],
        responses=BatchJobSerializer(many=True),
        examples=[OpenApiExample("A running job", value=BATCH_JOB_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        query = BatchJobFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        jobs = BatchPredictionJob.objects.select_related("created_by").defer("log_tail")
        if "status" in query.validated_data:
            jobs = jobs.filter(status=query.validated_data["status"])
        if "model_version" in query.validated_data:
            jobs = jobs.filter(model_version_id=query.validated_data["model_version"])
        return self.page(jobs, BatchJobSerializer)

    @extend_schema(
        tags=["batch predictions"],
        description=(
            "Queue a job that predicts every review of a pool with one model version, on a worker: 202 with the "
            "queued job. Its predictions are stored as they are made (`/api/predictions/?batch_job={id}`). Send "
            "an `Idempotency-Key` so that a retried request never queues a second job."
        ),
        request=BatchJobCreateSerializer,
        responses={202: BatchJobDetailSerializer},
        examples=[
            OpenApiExample(
                "The unlabelled reviews", value={"model_version": 9, "pool": "unlabelled"}, request_only=True
            ),
            OpenApiExample(
                "A snapshot's test split",
                value={"model_version": 9, "pool": "snapshot_split", "snapshot": 3, "split": "test"},
                request_only=True,
            ),
            OpenApiExample(
                "Queued",
                value={
                    **BATCH_JOB_EXAMPLE,
                    "status": "queued",
                    "total": 0,
                    "processed": 0,
                    "started_at": None,
                    "heartbeat_at": None,
                    "worker": "",
                    "log_tail": "",
                },
                response_only=True,
                status_codes=["202"],
            ),
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        body = BatchJobCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            job = batch_prediction_job_create(**body.validated_data, created_by=request.user)
        except BatchJobError as error:
            raise invalid(error.errors) from None
        return created(
            BatchJobDetailSerializer(job).data,
            f"/api/batch-predictions/{job.pk}/",
            http_status=status.HTTP_202_ACCEPTED,
        )


class BatchJobDetailView(ApiView):
    """One batch prediction job: its progress (processed of total), then how it ended."""

    required = {"GET": READ_DATA}

    @extend_schema(
        tags=["batch predictions"],
        responses=BatchJobDetailSerializer,
        examples=[OpenApiExample("A running job", value={**BATCH_JOB_EXAMPLE, "log_tail": ""}, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        job = get_or_404(BatchPredictionJob.objects.select_related("created_by"), pk, "batch prediction job")
        return Response(BatchJobDetailSerializer(job).data)


class BatchJobCancelView(ApiView):
    """Cancel a batch job: a queued one at once, a running one after the chunk it is predicting."""

    required = {"POST": MANAGE}

    @extend_schema(
        tags=["batch predictions"],
        request=None,
        responses={200: BatchJobDetailSerializer, 409: None},
        examples=[
            OpenApiExample(
                "Cancelled", value={**BATCH_JOB_EXAMPLE, "status": "cancelled", "log_tail": ""}, response_only=True
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        job = get_or_404(BatchPredictionJob.objects.all(), pk, "batch prediction job")
        try:
            batch_prediction_job_cancel(job=job, by=request.user)
        except IllegalTransition as error:
            raise conflict(str(error)) from None
        return Response(
            BatchJobDetailSerializer(BatchPredictionJob.objects.select_related("created_by").get(pk=pk)).data
        )
