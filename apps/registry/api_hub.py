"""REST API for the Hugging Face Hub: publish a version, register a model trained elsewhere, follow the job.

Starting either is for ML admins; reading the jobs for whoever reads models. Both answer 202 with the
queued job (``/api/models/hub-jobs/{id}/`` to follow it); a refusal is a 400 ``hub_refused`` whose message
says what was wrong (no HF_TOKEN, a malformed repository id, a TF-IDF or not two-label version, ...).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import ApiError
from apps.api.permissions import MANAGE, READ_MODELS
from apps.api.serializers import StrictInputSerializer
from apps.api.views import ApiListView, ApiView, created, get_or_404
from apps.common.roles import signed_in
from apps.registry.hub import hub_publish_submit, hub_register_submit
from apps.registry.models import HubJob
from apps.registry.selectors import model_version_list
from apps.reviews.models import DatasetSnapshot
from workers.ml.hub import HubError

JOB_EXAMPLE: dict[str, Any] = {
    "id": 5, "action": "publish", "status": "succeeded", "model_version": 9, "repo_id": "acme/imdb-sentiment",
    "private": True, "license": "apache-2.0", "source": "", "revision": "", "snapshot": None,
    "result_url": "https://huggingface.co/acme/imdb-sentiment", "commit_oid": "4f1c2a9e0b7d6c5a4f3e2d1c0b9a8f7e6d5c4b3a",
    "error": "", "log_tail": "Exporting model version 9 as a Hub model folder.\n", "created_at": "2025-05-01T10:00:00Z",
    "started_at": "2025-05-01T10:00:01Z", "finished_at": "2025-05-01T10:00:09Z",
}  # fmt: skip


class HubJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = HubJob
        fields = [
            "id", "action", "status", "model_version", "repo_id", "private", "license", "source", "revision",
            "snapshot", "result_url", "commit_oid", "error", "log_tail", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class PublishInput(StrictInputSerializer):
    repo_id = serializers.CharField(max_length=200, help_text="The Hub repository, owner/name; created when missing.")
    private = serializers.BooleanField(default=True, help_text="A new repository is private unless this is false.")
    license = serializers.CharField(max_length=64, default="apache-2.0", help_text="The model card's license.")


class RegisterInput(StrictInputSerializer):
    source = serializers.CharField(  # type: ignore[assignment]  # a field named "source" shadows Field.source in the stubs
        max_length=500, help_text="A Hub model id (owner/name) or a folder on the workers."
    )
    snapshot = serializers.PrimaryKeyRelatedField(
        queryset=DatasetSnapshot.objects.all(), help_text="The model is scored on this snapshot's test split."
    )
    revision = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)


def _refused(error: HubError) -> ApiError:
    return ApiError(400, "hub_refused", str(error))


def _accepted(job: HubJob) -> Response:
    return created(HubJobSerializer(job).data, f"/api/models/hub-jobs/{job.pk}/", http_status=status.HTTP_202_ACCEPTED)


class PublishView(ApiView):
    """Publish the version to the Hugging Face Hub as a standard model repository, as a job."""

    required = {"POST": MANAGE}
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["models"],
        description=(
            "Queue publishing a transformer version to the Hub with the workers' HF_TOKEN: config.json with "
            "negative/positive labels, model.safetensors, the tokenizer and a model card whose YAML carries the "
            "license, base model, datasets, `pipeline_tag: text-classification` and a `model-index` with the test "
            "metrics and the snapshot's content hash. 202 with the job. Refused (400, `hub_refused`) with no token, "
            "a malformed repository id, a TF-IDF version or one that is not two-label."
        ),
        request=PublishInput,
        responses={202: HubJobSerializer},
        examples=[
            OpenApiExample("Publish", value={"repo_id": "acme/imdb-sentiment", "private": True}, request_only=True),
            OpenApiExample("Queued", value={**JOB_EXAMPLE, "status": "queued"}, response_only=True, status_codes=["202"]),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        body = PublishInput(data=request.data)
        body.is_valid(raise_exception=True)
        version = get_or_404(model_version_list(), pk, "model version")
        try:
            job = hub_publish_submit(version=version, by=signed_in(request), **body.validated_data)
        except HubError as error:
            raise _refused(error) from None
        return _accepted(job)


class RegisterView(ApiView):
    """Register a sentiment classifier fine-tuned elsewhere as a model version, as a job."""

    required = {"POST": MANAGE}
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["models"],
        description=(
            "Queue registering a two-label sequence classifier from the Hub or a folder on the workers (safetensors "
            "only, no remote code). Its labels are mapped onto negative/positive (NEGATIVE/POSITIVE, neg/pos, "
            "LABEL_0/LABEL_1) and it is scored on the snapshot's test split; once the job has succeeded its "
            "`model_version` is compared and promoted like any other. A model that is not a two-label sentiment "
            "classifier makes the job fail with a message that says so."
        ),
        request=RegisterInput,
        responses={202: HubJobSerializer},
        examples=[
            OpenApiExample("Register", value={"source": "acme/distilbert-imdb", "snapshot": 3}, request_only=True),
        ],
    )
    def post(self, request: Request) -> Response:
        body = RegisterInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            job = hub_register_submit(by=signed_in(request), **body.validated_data)
        except HubError as error:
            raise _refused(error) from None
        return _accepted(job)


class HubJobListView(ApiListView):
    """Hub jobs, newest first."""

    required = {"GET": READ_MODELS}

    @extend_schema(
        tags=["models"],
        responses=HubJobSerializer(many=True),
        examples=[OpenApiExample("A publication", value=JOB_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return self.page(HubJob.objects.defer("log_tail"), HubJobSerializer)


class HubJobDetailView(ApiView):
    """One Hub job: where it stands, and once it has succeeded the repository and commit, or the version made."""

    required = {"GET": READ_MODELS}

    @extend_schema(
        tags=["models"],
        responses=HubJobSerializer,
        examples=[OpenApiExample("Published", value=JOB_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(HubJobSerializer(get_or_404(HubJob.objects.all(), pk, "Hub job")).data)
