"""REST API for retraining: training policies (read by analysts, set by ML admins) and the cycles they run.

A cycle is ``queued -> running -> succeeded | failed | cancelled``; a succeeded cycle says whether it
promoted its candidate and why (``decision``). ``POST /api/retraining-policies/{id}/run/`` starts one by
hand: 202 with the queued cycle, or 409 while the policy has one under way. Subscribe to the
``cycle.finished`` webhook to hear of each end.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import conflict, invalid
from apps.api.fields import IdFilterField, QueryFilters, RelatedIdField
from apps.api.permissions import MANAGE, READ_DATA
from apps.api.serializers import StrictInputSerializer
from apps.api.views import ApiListView, ApiView, created, get_or_404
from apps.automation.choices import ComparisonMetric
from apps.automation.models import RetrainingCycle, TrainingPolicy
from apps.automation.selectors import cycle_list, new_label_count
from apps.automation.services import (
    CycleRefused,
    PolicyError,
    cycle_cancel,
    cycle_start,
    policy_create,
    policy_delete,
    policy_update,
)
from apps.common.choices import JobStatus
from apps.common.models import IllegalTransition
from apps.common.roles import signed_in
from apps.reviews.choices import LabelSource, Split
from apps.reviews.models import DatasetSnapshot
from apps.training.choices import TRAINED_KINDS

POLICY_EXAMPLE: dict[str, Any] = {
    "id": 2, "name": "nightly tf-idf", "is_active": True, "kind": "tfidf", "hyperparameters": {"tfidf_c": 8.0},
    "label_source": "gold_and_human", "snapshot_seed": 42, "min_new_labels": 500, "schedule": "0 3 * * *",
    "benchmark_snapshot": 1, "benchmark_split": "test", "metric": "accuracy", "min_improvement": 0.005,
    "new_labels": 212, "created_at": "2025-05-01T09:00:00Z", "updated_at": "2025-05-01T09:00:00Z",
}  # fmt: skip
POLICY_REQUEST_EXAMPLE: dict[str, Any] = {
    "name": "nightly tf-idf", "kind": "tfidf", "label_source": "gold_and_human", "min_new_labels": 500,
    "schedule": "0 3 * * *", "benchmark_snapshot": 1, "benchmark_split": "test", "metric": "accuracy",
    "min_improvement": 0.005,
}  # fmt: skip
CYCLE_EXAMPLE: dict[str, Any] = {
    "id": 14, "policy": 2, "trigger": "labels", "status": "succeeded", "stage": "done", "labels_added": 503,
    "snapshot": 9, "training_run": 31, "candidate": 12, "current_version": 10,
    "candidate_evaluation": 40, "current_evaluation": 38, "metric": "accuracy", "min_improvement": 0.005,
    "benchmark_reviews": 4621, "benchmark_excluded": 379, "candidate_score": 0.9012, "current_score": 0.8931,
    "candidate_metrics": {"accuracy": 0.9012, "f1": 0.9020, "support": 4621},
    "current_metrics": {"accuracy": 0.8931, "f1": 0.8944, "support": 4621},
    "promoted": True, "promotion": 7, "batch_jobs": [5],
    "decision": "Promoted version 12: accuracy 0.9012 against 0.8931 for the current version 10 on 4,621 benchmark "
    "reviews neither model trained on (379 others left out: a model had seen them), +0.0081, at least 0.0050 better "
    "as the policy asks.",
    "created_at": "2025-05-02T03:00:00Z", "started_at": "2025-05-02T03:00:01Z", "finished_at": "2025-05-02T03:01:10Z",
    "error": "",
}  # fmt: skip


class PolicySerializer(serializers.ModelSerializer):
    new_labels = serializers.SerializerMethodField(
        help_text="Reviews resolved by people since the current model's snapshot and this policy's last cycle."
    )

    class Meta:
        model = TrainingPolicy
        fields = [
            "id", "name", "is_active", "kind", "hyperparameters", "label_source", "snapshot_seed", "min_new_labels",
            "schedule", "benchmark_snapshot", "benchmark_split", "metric", "min_improvement", "new_labels",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_new_labels(self, policy: TrainingPolicy) -> int:
        return new_label_count(policy)


class PolicyInputSerializer(StrictInputSerializer):
    """A policy's fields; on PATCH, only those to change."""

    name = serializers.CharField(max_length=200)
    is_active = serializers.BooleanField(required=False)
    kind = serializers.ChoiceField(choices=TRAINED_KINDS, required=False)
    hyperparameters = serializers.DictField(
        required=False, help_text='Training settings that differ from their defaults, e.g. {"tfidf_c": 8.0}.'
    )
    label_source = serializers.ChoiceField(choices=LabelSource.choices, required=False)
    snapshot_seed = serializers.IntegerField(required=False)
    min_new_labels = serializers.IntegerField(required=False, allow_null=True)
    schedule = serializers.CharField(required=False, allow_blank=True, max_length=100)
    benchmark_snapshot = RelatedIdField(queryset=DatasetSnapshot.objects.all(), what="snapshot")
    benchmark_split = serializers.ChoiceField(choices=Split.choices, required=False)
    metric = serializers.ChoiceField(choices=ComparisonMetric.choices, required=False)
    min_improvement = serializers.FloatField(required=False)


class CycleSerializer(serializers.ModelSerializer):
    current_version: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        source="baseline_version", read_only=True, help_text="The version current when the cycle started."
    )
    candidate_score = serializers.FloatField(read_only=True, allow_null=True)
    current_score = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = RetrainingCycle
        fields = [
            "id", "policy", "trigger", "status", "stage", "labels_added", "snapshot", "training_run", "candidate",
            "current_version", "candidate_evaluation", "current_evaluation", "metric", "min_improvement",
            "benchmark_reviews", "benchmark_excluded", "candidate_score", "current_score", "candidate_metrics",
            "current_metrics", "promoted", "promotion", "batch_jobs", "decision", "created_at", "started_at",
            "finished_at", "error",
        ]  # fmt: skip
        read_only_fields = fields


class CycleFilterSerializer(QueryFilters):
    policy = IdFilterField(required=False)
    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)


def _policy(pk: int) -> TrainingPolicy:
    return get_or_404(TrainingPolicy.objects.all(), pk, "training policy")


class PolicyListView(ApiListView):
    """Training policies; POST adds one."""

    required = {"GET": READ_DATA, "POST": MANAGE}
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["retraining"],
        responses=PolicySerializer(many=True),
        examples=[OpenApiExample("A policy", value=POLICY_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return self.page(TrainingPolicy.objects.order_by("-created_at", "-pk"), PolicySerializer)

    @extend_schema(
        tags=["retraining"],
        description=(
            "What to train (`kind`, `hyperparameters`: any training setting that differs from its default), on "
            "which labels (`label_source`), when (`min_new_labels` resolved by people, and/or a cron `schedule` "
            "run by Celery beat), scored where (`benchmark_snapshot` + `benchmark_split`: both models on the same "
            "reviews), and when the candidate replaces the current model (better by `min_improvement` on `metric`)."
        ),
        request=PolicyInputSerializer,
        responses={201: PolicySerializer},
        examples=[
            OpenApiExample(
                "Retrain after 500 labels or nightly",
                value=POLICY_REQUEST_EXAMPLE,
                request_only=True,
            ),
            OpenApiExample("Created", value=POLICY_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    )
    def post(self, request: Request) -> Response:
        body = PolicyInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            policy = policy_create(created_by=signed_in(request), **body.validated_data)
        except PolicyError as error:
            raise invalid(error.errors) from None
        return created(PolicySerializer(policy).data, f"/api/retraining-policies/{policy.pk}/")


class PolicyDetailView(ApiView):
    """One training policy: read, change (PATCH) or delete it (only while it has run no cycle)."""

    required = {"GET": READ_DATA, "PATCH": MANAGE, "DELETE": MANAGE}
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["retraining"],
        responses=PolicySerializer,
        examples=[OpenApiExample("A policy", value=POLICY_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(PolicySerializer(_policy(pk)).data)

    @extend_schema(
        tags=["retraining"],
        request=PolicyInputSerializer,
        responses=PolicySerializer,
        examples=[OpenApiExample("Pause it", value={"is_active": False}, request_only=True)],
    )
    def patch(self, request: Request, pk: int) -> Response:
        policy = _policy(pk)
        body = PolicyInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        try:
            policy_update(policy=policy, **body.validated_data)
        except PolicyError as error:
            raise invalid(error.errors) from None
        return Response(PolicySerializer(policy).data)

    @extend_schema(tags=["retraining"], responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        try:
            policy_delete(policy=_policy(pk))
        except PolicyError as error:
            raise conflict(error.errors["policy"]) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class PolicyRunView(ApiView):
    """Start a cycle of the policy now (202), whatever its triggers say; 409 while one is under way."""

    required = {"POST": MANAGE}

    @extend_schema(
        tags=["retraining"],
        request=None,
        responses={202: CycleSerializer},
        examples=[
            OpenApiExample(
                "Queued",
                value={**CYCLE_EXAMPLE, "trigger": "manual", "status": "queued", "stage": "waiting"},
                response_only=True,
                status_codes=["202"],
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        policy = _policy(pk)
        try:
            cycle = cycle_start(policy=policy, trigger="manual", created_by=signed_in(request))
        except CycleRefused as error:
            raise conflict(str(error)) from None
        if cycle is None:
            running = policy.cycles.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).first()
            raise conflict(
                f"Policy {policy.name!r} has cycle {running.pk if running else ''} under way; wait for it to end or cancel it.",
                code="cycle_under_way",
            )
        return created(CycleSerializer(cycle).data, f"/api/retraining-cycles/{cycle.pk}/", http_status=202)


class CycleListView(ApiListView):
    """Retraining cycles, newest first: what each trained, how both models scored, promoted or why not."""

    required = {"GET": READ_DATA}

    @extend_schema(
        tags=["retraining"],
        parameters=[CycleFilterSerializer],
        responses=CycleSerializer(many=True),
        examples=[OpenApiExample("A cycle that promoted", value=CYCLE_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        query = CycleFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        cycles = cycle_list()
        for name in ("policy", "status"):
            if name in query.validated_data:
                cycles = cycles.filter(**{name: query.validated_data[name]})
        return self.page(cycles, CycleSerializer)


class CycleDetailView(ApiView):
    """One retraining cycle: its steps' rows, both models' scores on the benchmark, and the decision."""

    required = {"GET": READ_DATA}

    @extend_schema(
        tags=["retraining"],
        responses=CycleSerializer,
        examples=[OpenApiExample("A cycle that promoted", value=CYCLE_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(CycleSerializer(get_or_404(cycle_list(), pk, "retraining cycle")).data)


class CycleCancelView(ApiView):
    """Cancel a queued or running cycle (and the run it waits for); 409 once it has ended."""

    required = {"POST": MANAGE}

    @extend_schema(
        tags=["retraining"],
        request=None,
        responses={202: CycleSerializer},
        examples=[
            OpenApiExample(
                "Cancelled",
                value={**CYCLE_EXAMPLE, "status": "cancelled", "promoted": False},
                response_only=True,
                status_codes=["202"],
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        cycle = get_or_404(cycle_list(), pk, "retraining cycle")
        try:
            cycle = cycle_cancel(cycle=cycle, by=signed_in(request))
        except IllegalTransition as error:
            raise conflict(str(error)) from None
        return Response(CycleSerializer(cycle).data, status=status.HTTP_202_ACCEPTED)
