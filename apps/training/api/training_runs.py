"""``/api/training-runs/``: queue a training run, follow it, read its metrics and epochs, cancel it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import conflict, invalid
from apps.api.fields import IdFilterField, QueryFilters, RelatedIdField
from apps.api.idempotency import idempotent
from apps.api.permissions import MANAGE, READ_MODELS
from apps.api.serializers import StrictInputSerializer
from apps.api.views import ApiListView, ApiView, created, get_or_404
from apps.common.choices import JobStatus
from apps.common.models import IllegalTransition
from apps.common.roles import signed_in
from apps.reviews.models import DatasetSnapshot
from apps.training.choices import TRAINED_KINDS, Truncation
from apps.training.models import EpochMetric, TrainingRun
from apps.training.selectors import training_run_detail, training_run_list
from apps.training.services import (
    HYPERPARAMETERS,
    MAX_STORED_INTEGER,
    RunConfigError,
    training_run_cancel,
    training_run_create,
)
from workers.ml.config import MAX_MLM_STEPS, MAX_NGRAM

STATE_FIELDS = [
    "status", "created_at", "updated_at", "started_at", "finished_at", "heartbeat_at", "cancel_requested",
    "worker", "device", "error",
]  # fmt: skip
METRIC_FIELDS = ["accuracy", "precision", "recall", "f1", "f1_macro"]
CONFUSION_MATRIX_HELP = (
    "[[true negatives, false positives], [false negatives, true positives]]: rows gold, columns predicted."
)

RUN_EXAMPLE: dict[str, Any] = {
    "id": 17,
    "status": "running",
    "kind": "transformer",
    "base_model": "sentence-transformers/all-MiniLM-L6-v2",
    "snapshot": 3,
    "hyperparameters": {
        "kind": "transformer", "base_model": "sentence-transformers/all-MiniLM-L6-v2", "learning_rate": 2e-05,
        "batch_size": 16, "epochs": 2, "weight_decay": 0.01, "max_length": 256, "truncation": "head",
        "lowercase": True, "seed": 42, "subset_size": None, "eval_subset_size": None, "early_stopping_patience": None, "warmup_ratio": 0.0,
        "mlm_steps": 0, "mlm_reviews": None, "tfidf_ngram_max": 3, "tfidf_min_df": 2, "tfidf_c": 16.0, "tfidf_nb_weighting": True,
    },
    "notes": "",
    "created_by": "mladmin",
    "current_step": 2500,
    "total_steps": 5000,
    "progress_percent": 50.0,
    "eta_seconds": 310.5,
    "train_samples_per_second": 128.4,
    "accuracy": None, "precision": None, "recall": None, "f1": None, "f1_macro": None,
    "model_version": None,
    "created_at": "2025-05-01T09:30:00Z", "updated_at": "2025-05-01T09:41:02Z", "started_at": "2025-05-01T09:30:04Z",
    "finished_at": None, "heartbeat_at": "2025-05-01T09:41:00Z", "cancel_requested": False, "worker": "gpu@worker-1",
    "device": "cuda (NVIDIA H100)", "error": "",
}  # fmt: skip
RUN_DETAIL_EXAMPLE: dict[str, Any] = {
    **RUN_EXAMPLE,
    "status": "succeeded",
    "current_step": 5000,
    "progress_percent": 100.0,
    "eta_seconds": 0,
    "accuracy": 0.9232, "precision": 0.9187, "recall": 0.9286, "f1": 0.9236, "f1_macro": 0.9232,
    "model_version": 9,
    "finished_at": "2025-05-01T09:52:40Z",
    "confusion_matrix": [[2291, 209], [178, 2322]],
    "metrics": {"accuracy": 0.9232, "precision": 0.9187, "recall": 0.9286, "f1": 0.9236, "f1_macro": 0.9232, "support": 5000},
    "epochs": [
        {"epoch": 1, "step": 2500, "train_loss": 0.3021, "validation_loss": 0.2214, "validation_accuracy": 0.9102, "validation_f1": 0.9110},
        {"epoch": 2, "step": 5000, "train_loss": 0.1843, "validation_loss": 0.2102, "validation_accuracy": 0.9204, "validation_f1": 0.9209},
    ],
    "evaluations": [21],
    "log_tail": "Succeeded in 1356 s on cuda: test accuracy 0.9232, F1 0.9236. Registered model version 9.\n",
}  # fmt: skip


# --- Serializers -----------------------------------------------------------------------------------------


class EpochMetricSerializer(serializers.ModelSerializer):
    class Meta:
        model = EpochMetric
        fields = ["epoch", "step", "train_loss", "validation_loss", "validation_accuracy", "validation_f1"]
        read_only_fields = fields


class HyperparametersSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=TRAINED_KINDS)
    base_model = serializers.CharField()
    learning_rate = serializers.FloatField()
    batch_size = serializers.IntegerField()
    epochs = serializers.IntegerField()
    weight_decay = serializers.FloatField()
    max_length = serializers.IntegerField()
    truncation = serializers.ChoiceField(choices=Truncation.choices)
    lowercase = serializers.BooleanField()
    seed = serializers.IntegerField()
    subset_size = serializers.IntegerField(allow_null=True)
    eval_subset_size = serializers.IntegerField(allow_null=True)
    early_stopping_patience = serializers.IntegerField(allow_null=True)
    warmup_ratio = serializers.FloatField()
    mlm_steps = serializers.IntegerField(help_text="Masked-language-modelling steps on unlabelled reviews first; 0: none.")
    mlm_reviews = serializers.IntegerField(allow_null=True, help_text="Most unlabelled reviews read for them.")
    tfidf_ngram_max = serializers.IntegerField(help_text="TF-IDF kind: longest word n-gram.")
    tfidf_min_df = serializers.IntegerField(help_text="TF-IDF kind: n-grams kept are in at least this many reviews.")
    tfidf_c = serializers.FloatField(allow_null=True, help_text="TF-IDF kind: C; null when chosen on validation.")
    tfidf_nb_weighting = serializers.BooleanField(help_text="TF-IDF kind: naive-Bayes (true) or idf (false) weighting.")


class TrainingRunSerializer(serializers.ModelSerializer):
    hyperparameters = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    model_version = serializers.SerializerMethodField(help_text="The version this run produced, once it succeeded.")
    progress_percent = serializers.FloatField(read_only=True)
    confusion_matrix = serializers.JSONField(read_only=True, help_text=CONFUSION_MATRIX_HELP)

    class Meta:
        model = TrainingRun
        fields = [
            "id", "kind", "base_model", "snapshot", "hyperparameters", "notes", "created_by", "current_step",
            "total_steps", "progress_percent", "eta_seconds", "train_samples_per_second", *METRIC_FIELDS,
            "confusion_matrix", "model_version", *STATE_FIELDS,
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(HyperparametersSerializer)
    def get_hyperparameters(self, run: TrainingRun) -> dict[str, Any]:
        return {name: getattr(run, name) for name in HYPERPARAMETERS}

    def get_created_by(self, run: TrainingRun) -> str | None:
        user = run.created_by
        return user.get_username() if user is not None else None

    def get_model_version(self, run: TrainingRun) -> int | None:
        if "model_version" in self.context:
            version = self.context["model_version"]
        else:
            # A run without a version raises RelatedObjectDoesNotExist, an AttributeError.
            version = getattr(run, "model_version", None)
        return version.pk if version is not None else None


class TrainingRunDetailSerializer(TrainingRunSerializer):
    epochs = serializers.SerializerMethodField(help_text="Train and validation loss and validation metrics per epoch.")
    evaluations = serializers.SerializerMethodField(help_text="Ids of the evaluation runs of this run's model version.")

    class Meta(TrainingRunSerializer.Meta):
        fields = [*TrainingRunSerializer.Meta.fields, "metrics", "epochs", "evaluations", "log_tail"]
        read_only_fields = fields

    @extend_schema_field(EpochMetricSerializer(many=True))
    def get_epochs(self, run: TrainingRun) -> list[dict[str, Any]]:
        epochs = self.context.get("epochs")
        if epochs is None:
            epochs = list(run.epoch_metrics.order_by("epoch"))
        return EpochMetricSerializer(epochs, many=True).data  # type: ignore[return-value]  # many=True: a list

    def get_evaluations(self, run: TrainingRun) -> list[int]:
        return [evaluation.pk for evaluation in self.context.get("evaluations", [])]


class TrainingRunCreateSerializer(StrictInputSerializer):
    """The snapshot to train on and any hyperparameters to change from their defaults."""

    snapshot = RelatedIdField(queryset=DatasetSnapshot.objects.all(), what="snapshot")
    notes = serializers.CharField(required=False, allow_blank=True, max_length=10_000, default="")
    kind = serializers.ChoiceField(
        choices=TRAINED_KINDS,
        required=False,
        help_text="transformer (fine-tune on a GPU worker) or tfidf (a fast CPU baseline).",
    )
    base_model = serializers.CharField(
        required=False,
        max_length=500,
        help_text="A Hugging Face hub id or a folder on the workers; default all-MiniLM-L6-v2.",
    )
    learning_rate = serializers.FloatField(required=False, min_value=0, max_value=1, help_text="Default 2e-5.")
    batch_size = serializers.IntegerField(required=False, min_value=1, max_value=1024, help_text="Default 16.")
    epochs = serializers.IntegerField(required=False, min_value=1, max_value=100, help_text="Default 2.")
    weight_decay = serializers.FloatField(required=False, min_value=0, max_value=1e6, help_text="Default 0.01.")
    max_length = serializers.IntegerField(
        required=False, min_value=8, max_value=8192, help_text="Tokens kept per review; default 256."
    )
    truncation = serializers.ChoiceField(
        choices=Truncation.choices, required=False, help_text="head (keep the start) or head_tail; default head."
    )
    lowercase = serializers.BooleanField(required=False, help_text="Default true.")
    seed = serializers.IntegerField(required=False, min_value=0, max_value=MAX_STORED_INTEGER, help_text="Default 42.")
    subset_size = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=2,
        max_value=MAX_STORED_INTEGER,
        help_text="Train on this many reviews only.",
    )
    eval_subset_size = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=10,
        max_value=MAX_STORED_INTEGER,
        help_text="Score only this many validation and test reviews: a quick trial whose test metrics describe that sample.",
    )
    early_stopping_patience = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=100,
        help_text="Stop after this many epochs without improvement.",
    )
    warmup_ratio = serializers.FloatField(required=False, min_value=0, max_value=1, help_text="Default 0.")
    mlm_steps = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_MLM_STEPS,
        help_text="Transformer kind: domain adaptation, masked-language-modelling steps on the platform's unlabelled "
        "reviews before fine-tuning; default 0 (off).",
    )
    mlm_reviews = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_STORED_INTEGER,
        help_text="Transformer kind: read at most this many unlabelled reviews for domain adaptation; null: as many "
        "as its steps see.",
    )
    tfidf_ngram_max = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_NGRAM, help_text="TF-IDF kind: longest word n-gram; default 3."
    )
    tfidf_min_df = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_STORED_INTEGER,
        help_text="TF-IDF kind: keep n-grams found in at least this many training reviews; default 2.",
    )
    tfidf_c = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=1e6,
        help_text="TF-IDF kind: inverse regularisation of the logistic regression; default 16; null: chosen on validation.",
    )
    tfidf_nb_weighting = serializers.BooleanField(
        required=False, help_text="TF-IDF kind: naive-Bayes log-count ratio weighting (true, default) or idf (false)."
    )


class RunFilterSerializer(QueryFilters):
    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)
    kind = serializers.ChoiceField(choices=TRAINED_KINDS, required=False)
    snapshot = IdFilterField()


# --- Training runs ---------------------------------------------------------------------------------------


class TrainingRunListView(ApiListView):
    """Training runs, newest first; POST queues a new one."""

    required = {"GET": READ_MODELS, "POST": MANAGE}
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["training runs"],
        parameters=[RunFilterSerializer],
        responses=TrainingRunSerializer(many=True),
        examples=[OpenApiExample("A running run", value=RUN_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        query = RunFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        runs = training_run_list(status=query.validated_data.get("status"), kind=query.validated_data.get("kind"))
        if "snapshot" in query.validated_data:
            runs = runs.filter(snapshot_id=query.validated_data["snapshot"])
        return self.page(runs.defer("log_tail", "metrics"), TrainingRunSerializer)

    @extend_schema(
        tags=["training runs"],
        description=(
            "Queue a training run on a snapshot: 202 with the queued run. Transformers train on a GPU worker, "
            "`tfidf` (a TF-IDF + logistic regression baseline, under a minute on a CPU) on any worker. Any "
            "hyperparameter left out takes its default (the seed project's: lowercase, max length 256, "
            "learning rate 2e-5, batch 16, 2 epochs, weight decay 0.01). Each bad field gets its own message. "
            "Send an `Idempotency-Key` so that a retried request never queues a second run."
        ),
        request=TrainingRunCreateSerializer,
        responses={202: TrainingRunDetailSerializer},
        examples=[
            OpenApiExample(
                "Fine-tune MiniLM",
                value={"snapshot": 3, "kind": "transformer", "epochs": 2, "max_length": 256, "truncation": "head_tail"},
                request_only=True,
            ),
            OpenApiExample("A fast baseline", value={"snapshot": 3, "kind": "tfidf"}, request_only=True),
            OpenApiExample(
                "Queued",
                value={
                    **RUN_DETAIL_EXAMPLE,
                    "status": "queued",
                    "current_step": 0,
                    "progress_percent": 0.0,
                    "eta_seconds": None,
                    **dict.fromkeys(METRIC_FIELDS),
                    "confusion_matrix": [],
                    "metrics": {},
                    "model_version": None,
                    "epochs": [],
                    "evaluations": [],
                    "started_at": None,
                    "finished_at": None,
                    "heartbeat_at": None,
                    "worker": "",
                    "device": "",
                    "log_tail": "",
                },
                response_only=True,
                status_codes=["202"],
            ),
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        body = TrainingRunCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        snapshot, notes = data.pop("snapshot"), data.pop("notes")
        if isinstance(data.get("base_model"), str):
            data["base_model"] = data["base_model"].strip()
        try:
            run = training_run_create(snapshot=snapshot, created_by=signed_in(request), notes=notes, **data)
        except RunConfigError as error:
            raise invalid(error.errors) from None
        return created(_run_detail(run.pk), f"/api/training-runs/{run.pk}/", http_status=status.HTTP_202_ACCEPTED)


class TrainingRunDetailView(ApiView):
    """One training run: progress and ETA while it runs, per-epoch metrics, then test metrics and the confusion matrix."""

    required = {"GET": READ_MODELS}

    @extend_schema(
        tags=["training runs"],
        description=(
            "Poll it while it runs: `progress_percent`, `eta_seconds` and `epochs` (train and validation loss "
            "side by side) fill in as it goes; once it has `succeeded`, the test metrics, `confusion_matrix` and "
            "`model_version` are there. Send the last `ETag` as `If-None-Match` to get a bodiless 304 while "
            "nothing changed."
        ),
        responses=TrainingRunDetailSerializer,
        examples=[OpenApiExample("A finished run", value=RUN_DETAIL_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        get_or_404(TrainingRun.objects.all(), pk, "training run")
        return Response(_run_detail(pk))


class TrainingRunCancelView(ApiView):
    """Cancel a training run: a queued one at once, a running one at the worker's next step."""

    required = {"POST": MANAGE}

    @extend_schema(
        tags=["training runs"],
        request=None,
        responses={200: TrainingRunDetailSerializer, 409: None},
        examples=[OpenApiExample("Cancelled", value={**RUN_DETAIL_EXAMPLE, "status": "cancelled"}, response_only=True)],
    )
    def post(self, request: Request, pk: int) -> Response:
        run = get_or_404(TrainingRun.objects.all(), pk, "training run")
        try:
            training_run_cancel(run=run, by=signed_in(request))
        except IllegalTransition as error:
            raise conflict(str(error)) from None
        return Response(_run_detail(pk))


def _run_detail(run_id: int) -> dict[str, Any]:
    detail = training_run_detail(run_id=run_id)
    context = {"epochs": detail.epochs, "evaluations": detail.evaluations, "model_version": detail.model_version}
    return TrainingRunDetailSerializer(detail.run, context=context).data


