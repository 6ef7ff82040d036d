"""REST API for ensemble builds: queue one from two or more versions of one snapshot, follow it, cancel it.

Reading is open to analysts, ML admins and integrations; building and cancelling to ML admins. The
version a build registers is an ordinary model version at ``/api/models/{id}/``, with its members.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import conflict, invalid
from apps.api.idempotency import idempotent
from apps.api.permissions import MANAGE, READ_MODELS
from apps.api.serializers import StrictInputSerializer
from apps.api.views import ApiListView, ApiView, created, get_or_404
from apps.common.models import IllegalTransition
from apps.common.roles import signed_in
from apps.registry.ensembles import (
    MAX_MEMBERS,
    EnsembleRequestError,
    ensemble_build_cancel,
    ensemble_build_create,
)
from apps.registry.models import EnsembleBuild, ModelVersion
from apps.registry.selectors import ensemble_build_list

BUILD_EXAMPLE: dict[str, Any] = {
    "id": 4,
    "status": "succeeded",
    "snapshot": 3,
    "members": [8, 9],
    "model_version": 12,
    "accuracy": 0.9391,
    "f1": 0.9394,
    "precision": 0.9342,
    "recall": 0.9446,
    "confusion_matrix": [[2334, 166], [139, 2361]],
    "metrics": {
        "accuracy": 0.9391,
        "validation": {"accuracy": 0.9402, "f1": 0.9405},
        "members": [
            {"model_version_id": 8, "kind": "tfidf", "accuracy": 0.9254, "f1": 0.9259},
            {"model_version_id": 9, "kind": "transformer", "accuracy": 0.9288, "f1": 0.9291},
        ],
    },
    "processed": 20000,
    "total": 20000,
    "notes": "",
    "error": "",
    "device": "cuda (NVIDIA H200)",
    "created_at": "2025-05-02T10:00:00Z",
    "started_at": "2025-05-02T10:00:01Z",
    "finished_at": "2025-05-02T10:01:13Z",
}


class EnsembleBuildSerializer(serializers.ModelSerializer):
    members = serializers.SerializerMethodField()

    class Meta:
        model = EnsembleBuild
        fields = [
            "id", "status", "snapshot", "members", "model_version", "accuracy", "f1", "precision", "recall",
            "confusion_matrix", "metrics", "processed", "total", "notes", "error", "device", "created_at",
            "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_members(self, build: EnsembleBuild) -> list[int]:
        return sorted(member.pk for member in build.members.all())


class EnsembleBuildCreateSerializer(StrictInputSerializer):
    members = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=MAX_MEMBERS,
        help_text="Ids of two or more model versions trained on the same snapshot (transformer or TF-IDF).",
    )
    notes = serializers.CharField(required=False, allow_blank=True, max_length=10_000, default="")


class EnsembleBuildListView(ApiListView):
    """Ensemble builds, newest first; POST queues a new one."""

    required = {"GET": READ_MODELS, "POST": MANAGE}
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["models"],
        responses=EnsembleBuildSerializer(many=True),
        examples=[OpenApiExample("A finished build", value=BUILD_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return self.page(ensemble_build_list(), EnsembleBuildSerializer)

    @extend_schema(
        tags=["models"],
        description=(
            "Queue the build of an ensemble of two or more model versions trained on the same snapshot: 202 "
            "with the queued build. A worker scores every member on the snapshot's validation and test splits, "
            "fits the weights (logistic regression over the members' positive-class log-odds) on validation, "
            "measures the ensemble and each member on test, and registers a model version of kind `ensemble` "
            "that is promoted, evaluated and served like any other. Refused (400, field `members`) for fewer "
            "than two versions, versions of different snapshots, an unknown version or an ensemble as a member."
        ),
        request=EnsembleBuildCreateSerializer,
        responses={202: EnsembleBuildSerializer},
        examples=[OpenApiExample("Two members", value={"members": [8, 9]}, request_only=True)],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        body = EnsembleBuildCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ids = body.validated_data["members"]
        found = {version.pk: version for version in ModelVersion.objects.filter(pk__in=ids).select_related("snapshot")}
        missing = [pk for pk in dict.fromkeys(ids) if pk not in found]
        if missing:
            raise invalid({"members": f"There is no model version {', '.join(map(str, missing))}."})
        try:
            build = ensemble_build_create(
                members=[found[pk] for pk in ids], created_by=signed_in(request), notes=body.validated_data["notes"]
            )
        except EnsembleRequestError as error:
            raise invalid(error.errors) from None
        data = EnsembleBuildSerializer(ensemble_build_list().get(pk=build.pk)).data
        return created(data, f"/api/models/ensembles/{build.pk}/", http_status=status.HTTP_202_ACCEPTED)


class EnsembleBuildDetailView(ApiView):
    """One ensemble build: progress while it runs, then the ensemble's and each member's test metrics."""

    required = {"GET": READ_MODELS}

    @extend_schema(
        tags=["models"],
        responses=EnsembleBuildSerializer,
        examples=[OpenApiExample("A finished build", value=BUILD_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(EnsembleBuildSerializer(get_or_404(ensemble_build_list(), pk, "ensemble build")).data)


class EnsembleBuildCancelView(ApiView):
    """Cancel a build: a queued one at once, a running one at its next chunk of reviews."""

    required = {"POST": MANAGE}
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["models"],
        request=None,
        responses=EnsembleBuildSerializer,
        examples=[
            OpenApiExample(
                "Cancelled",
                value={**BUILD_EXAMPLE, "status": "cancelled", "model_version": None, "processed": 4096, "finished_at": None},
                response_only=True,
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        build = get_or_404(ensemble_build_list(), pk, "ensemble build")
        try:
            ensemble_build_cancel(build=build, by=signed_in(request))
        except IllegalTransition as error:
            raise conflict(str(error)) from None
        return Response(EnsembleBuildSerializer(ensemble_build_list().get(pk=pk)).data)
