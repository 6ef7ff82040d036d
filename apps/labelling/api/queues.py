"""``/api/labelling/queues/``: list, make and change queues, order them again, read their progress."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.permissions import LABEL, MANAGE, requiring
from apps.common.roles import is_ml_admin
from apps.labelling.api.access import ANALYST, ML_ADMIN, REFUSALS, caller, queue_for
from apps.labelling.api.examples import (
    NEW_QUEUE_PROGRESS_EXAMPLE,
    QUEUE_EXAMPLE,
    QUEUE_PROGRESS_EXAMPLE,
)
from apps.labelling.api.serializers import (
    AnalystProgressSerializer,
    ProgressSerializer,
    QueueSerializer,
    ReorderSerializer,
)
from apps.labelling.models import LabellingQueue
from apps.labelling.ordering import queue_order_rebuild
from apps.labelling.schema import (
    OpenApiExample,
    extend_schema,
    extend_schema_view,
)
from apps.labelling.selectors import (
    analyst_progress,
    queue_list,
)
from apps.labelling.services import queue_can_be_worked_by


@extend_schema_view(
    get=extend_schema(
        description=(
            "The labelling queues you are listed on, each with its progress; an ML admin sees every queue. "
            "Analysts and ML admins."
        ),
        examples=[OpenApiExample("A queue", value=QUEUE_EXAMPLE, response_only=True)],
    ),
    post=extend_schema(
        description=(
            "Make a queue over a pool of reviews (`unlabelled`, `snapshot_split` with `pool_snapshot` and "
            "`pool_split`, `import` with `pool_import`, or `all`), worked in the order of its `strategy` by the "
            "analysts in `annotators`, each review labelled by `overlap` of them. The queue is ordered at once: "
            "201 with the queue and its progress. ML admins only."
        ),
        examples=[
            OpenApiExample(
                "An import, most uncertain first",
                value={
                    "name": "Uncertain reviews, May import",
                    "pool": "import",
                    "pool_import": 12,
                    "strategy": "uncertainty",
                    "overlap": 2,
                    "annotators": ["anna", "ben"],
                },
                request_only=True,
            ),
            OpenApiExample(
                "A snapshot's test split",
                value={
                    "name": "Check the test split",
                    "pool": "snapshot_split",
                    "pool_snapshot": 3,
                    "pool_split": "test",
                    "strategy": "suspicious",
                    "annotators": ["anna"],
                },
                request_only=True,
            ),
            OpenApiExample(
                "Made",
                value={**QUEUE_EXAMPLE, "progress": NEW_QUEUE_PROGRESS_EXAMPLE},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    ),
)
class QueueListCreateView(generics.ListCreateAPIView):
    """GET: the queues you work (every queue for an ML admin). POST (ML admins): a new queue, ordered at once."""

    serializer_class = QueueSerializer
    permission_classes = [IsAuthenticated, requiring(LABEL, POST=MANAGE, refusals=REFUSALS)]

    def get_queryset(self) -> QuerySet[LabellingQueue]:
        return queue_list(user=caller(self.request)).prefetch_related("annotators")


@extend_schema_view(
    get=extend_schema(
        description="A queue you are listed on (any queue for an ML admin), with its progress. Analysts and ML admins.",
        examples=[OpenApiExample("A queue", value=QUEUE_EXAMPLE, response_only=True)],
    ),
    patch=extend_schema(
        description=(
            "Change a queue's name, strategy, overlap, analysts or `is_active` (an inactive queue hands out no "
            "review and is hidden from its analysts). Its pool cannot change: make a new queue instead. A new "
            "strategy or overlap orders the queue again. ML admins only."
        ),
        examples=[
            OpenApiExample(
                "Suspicious labels first, three labels a review",
                value={"strategy": "suspicious", "overlap": 3},
                request_only=True,
            ),
            OpenApiExample("Another analyst", value={"annotators": ["anna", "ben", "chloe"]}, request_only=True),
            OpenApiExample("Paused", value={"is_active": False}, request_only=True),
            OpenApiExample(
                "Changed", value={**QUEUE_EXAMPLE, "strategy": "suspicious", "overlap": 3}, response_only=True
            ),
        ],
    ),
)
class QueueDetailView(generics.RetrieveUpdateAPIView):
    """GET: a queue with its progress. PATCH (ML admins): its name, strategy, overlap, analysts or is_active."""

    serializer_class = QueueSerializer
    http_method_names = ["get", "patch", "head", "options"]
    permission_classes = [IsAuthenticated, requiring(MANAGE, GET=LABEL, OPTIONS=LABEL, refusals=REFUSALS)]

    def get_queryset(self) -> QuerySet[LabellingQueue]:
        return queue_list(user=caller(self.request)).prefetch_related("annotators")

    def get_object(self) -> LabellingQueue:
        try:
            return super().get_object()
        except Http404:
            # DRF's own 404 here says nothing at all.
            raise NotFound(f"There is no queue {self.kwargs['pk']} among your queues.") from None


class QueueReorderView(APIView):
    """POST (ML admins): recompute the queue's order from its pool and the current model's batch predictions."""

    permission_classes = ML_ADMIN

    @extend_schema(
        description=(
            "Order the queue again from its pool and the current model's latest batch predictions (most uncertain "
            "or most suspicious first, as its strategy says); reviews without a prediction come last, in random "
            "order. New reviews in the pool join the queue. ML admins only."
        ),
        request=None,
        responses=ReorderSerializer,
        examples=[
            OpenApiExample(
                "Ordered by model version 9",
                value={
                    "reviews": 2000,
                    "predicted": 1987,
                    "done": 412,
                    "model_version": 9,
                    "summary": (
                        "2,000 reviews ordered by the batch predictions of model version 9, which cover 1,987 of "
                        "them (the rest come last, in random order)."
                    ),
                },
                response_only=True,
            ),
            OpenApiExample(
                "No batch predictions",
                value={
                    "reviews": 2000,
                    "predicted": 0,
                    "done": 412,
                    "model_version": None,
                    "summary": "2,000 reviews in random order.",
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        order = queue_order_rebuild(queue=queue_for(request, pk))
        return Response(
            {
                "reviews": order.reviews,
                "predicted": order.predicted,
                "done": order.done,
                "model_version": order.model_version.pk if order.model_version else None,
                "summary": order.summary,
            }
        )


class QueueProgressView(APIView):
    """GET: the queue's progress and each analyst's labels, skips, labels today and accuracy against gold."""

    permission_classes = ANALYST

    @extend_schema(
        description=(
            "The queue's progress and, for each analyst, labels given (in all and today), skips, reviews held now "
            "and accuracy against the gold labels. Analysts of the queue and ML admins."
        ),
        responses=ProgressSerializer,
        examples=[
            OpenApiExample(
                "Two analysts",
                value={
                    "queue": 4,
                    "progress": QUEUE_PROGRESS_EXAMPLE,
                    "analysts": [
                        {
                            "username": "anna",
                            "labels": 455,
                            "today": 57,
                            "skipped": 4,
                            "in_progress": 1,
                            "gold_labels": 40,
                            "gold_correct": 37,
                            "gold_accuracy": 0.925,
                        },
                        {
                            "username": "ben",
                            "labels": 396,
                            "today": 0,
                            "skipped": 5,
                            "in_progress": 1,
                            "gold_labels": 0,
                            "gold_correct": 0,
                            "gold_accuracy": None,
                        },
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request, pk: int) -> Response:
        queue = queue_for(request, pk)
        if not is_ml_admin(request.user) and not queue_can_be_worked_by(queue, caller(request)):
            raise NotFound(f"There is no queue {pk} among your queues.")
        return Response(
            {
                "queue": queue.pk,
                "progress": QueueSerializer().get_progress(queue),
                "analysts": AnalystProgressSerializer(analyst_progress(queue=queue), many=True).data,
            }
        )

