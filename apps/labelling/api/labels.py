"""``/api/labelling/queues/{id}/next|labels|skip|undo/``: an analyst's work on a queue."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.labelling.api.access import ANALYST, caller, queue_for, refused
from apps.labelling.api.examples import (
    LABELLED_EXAMPLE,
    NEXT_EXAMPLE,
    NOTHING_LEFT_EXAMPLE,
)
from apps.labelling.api.serializers import (
    AnnotationSerializer,
    AssignmentSerializer,
    LabelInput,
    LabelledSerializer,
    NextSerializer,
    ResolutionSerializer,
    SkipInput,
)
from apps.labelling.models import LabellingQueue
from apps.labelling.schema import (
    OpenApiExample,
    extend_schema,
)
from apps.labelling.selectors import (
    page_extras,
)
from apps.labelling.errors import LabellingRefused
from apps.labelling.services import annotation_create, annotation_undo, assignment_next, assignment_skip


def _next_body(request: Request, queue: LabellingQueue) -> dict[str, Any]:
    assignment = assignment_next(queue=queue, user=caller(request))
    extras = page_extras(user=caller(request), review_id=assignment.review_id if assignment else None)
    context = {"suggestion": extras.suggestion}
    return {
        "assignment": AssignmentSerializer(assignment, context=context).data if assignment else None,
        "labels_today": extras.labels_today,
    }


class NextReviewView(APIView):
    """POST: the review to label now (your current one, or a new hold on the queue's next); null when none is left."""

    permission_classes = ANALYST

    @extend_schema(
        description=(
            "The review to label now: the one you already hold in this queue, or else a hold on the queue's next "
            "review, yours for LABELLING_ASSIGNMENT_MINUTES (30 by default). `suggestion` is the current model's "
            "prediction of it, when there is one. `assignment` is null when the queue has nothing left for you. "
            "Analysts of the queue and ML admins."
        ),
        request=None,
        responses=NextSerializer,
        examples=[
            OpenApiExample("A review to label", value=NEXT_EXAMPLE, response_only=True),
            OpenApiExample("Nothing left", value=NOTHING_LEFT_EXAMPLE, response_only=True),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        queue = queue_for(request, pk)
        try:
            return Response(_next_body(request, queue))
        except LabellingRefused as error:
            raise refused(error) from None


class LabelView(APIView):
    """POST {"review": id, "label": "positive" | "negative"}: label a review assigned to you; answers with the next one."""

    permission_classes = ANALYST
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        description=(
            "Label a review the queue assigned to you, `positive` or `negative`: 201 with the label, the review's "
            "resolution once its labels are all in and agree (`conflict` is true when they disagree: an ML admin "
            "settles it), and your next review. 403 for a review not assigned to you; 409 for one you have "
            "labelled already, one that is resolved already, or one whose hold expired and went to another "
            "analyst. Analysts of the queue and ML admins."
        ),
        request=LabelInput,
        responses={201: LabelledSerializer},
        examples=[
            OpenApiExample("A label", value={"review": 50231, "label": "negative"}, request_only=True),
            OpenApiExample("Labelled", value=LABELLED_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        queue = queue_for(request, pk)
        body = LabelInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            outcome = annotation_create(
                queue=queue, user=caller(request), review_id=body.validated_data["review"], label=body.validated_data["label"]
            )
            after = _next_body(request, queue)
        except LabellingRefused as error:
            raise refused(error) from None
        return Response(
            {
                "annotation": AnnotationSerializer(outcome.annotation).data,
                "resolution": ResolutionSerializer(outcome.resolution).data if outcome.resolution else None,
                "conflict": outcome.conflict,
                "next": after["assignment"],
                "labels_today": after["labels_today"],
            },
            status=status.HTTP_201_CREATED,
        )


class SkipView(APIView):
    """POST {"review": id}: pass on a review assigned to you; answers with the next one."""

    permission_classes = ANALYST
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        description=(
            "Pass on a review assigned to you (too ambiguous, not a review, another language): the queue does "
            "not give it to you again. The answer is your next review, as from `next/`. Analysts of the queue "
            "and ML admins."
        ),
        request=SkipInput,
        responses=NextSerializer,
        examples=[
            OpenApiExample("Skip a review", value={"review": 50231}, request_only=True),
            OpenApiExample(
                "The next review",
                value={**NEXT_EXAMPLE, "assignment": LABELLED_EXAMPLE["next"]},
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        queue = queue_for(request, pk)
        body = SkipInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            assignment_skip(queue=queue, user=caller(request), review_id=body.validated_data["review"])
            return Response(_next_body(request, queue))
        except LabellingRefused as error:
            raise refused(error) from None


class UndoView(APIView):
    """POST: take back your latest label in this queue; the review is yours to label again."""

    permission_classes = ANALYST

    @extend_schema(
        description=(
            "Take back your latest label in this queue: the review is assigned to you again and comes back as "
            "the review to label. 409 when you have no label here to take back, or an ML admin has settled its "
            "review since. Analysts of the queue and ML admins."
        ),
        request=None,
        responses=NextSerializer,
        examples=[
            OpenApiExample(
                "The review to label again",
                value={**NEXT_EXAMPLE, "labels_today": 56},
                response_only=True,
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        queue = queue_for(request, pk)
        try:
            annotation_undo(queue=queue, user=caller(request))
            return Response(_next_body(request, queue))
        except LabellingRefused as error:
            raise refused(error) from None

