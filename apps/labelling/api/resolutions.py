"""``/api/labelling/conflicts/``, ``reviews/{id}/settle/``, ``agreement/``: split reviews, settling them, agreement."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.labelling.api.access import ML_ADMIN, caller, queue_param, refused
from apps.labelling.api.examples import (
    CONFLICT_EXAMPLE,
    SETTLED_EXAMPLE,
)
from apps.labelling.api.serializers import (
    AgreementSerializer,
    ConflictSerializer,
    ResolutionSerializer,
    SettledSerializer,
    SettleInput,
)
from apps.labelling.schema import (
    QUEUE_PARAMETER,
    OpenApiExample,
    extend_schema,
)
from apps.labelling.selectors import (
    agreement_summary,
    conflict_reviews,
    conflicts_for,
)
from apps.labelling.errors import LabellingRefused
from apps.labelling.resolutions import resolution_settle
from apps.reviews.models import Review


@extend_schema(
    description=(
        "Reviews whose labels are all in but disagree (split evenly, or against the gold label), with each "
        "annotator's label and why the review waits for an ML admin; settle one with "
        "`POST /api/labelling/reviews/{review_id}/settle/`. ML admins only."
    ),
    parameters=[QUEUE_PARAMETER],
    examples=[OpenApiExample("A split review", value=CONFLICT_EXAMPLE, response_only=True)],
)
class ConflictListView(generics.ListAPIView):
    """GET ?queue=ID (ML admins): reviews whose labels disagree, with each annotator's label and why."""

    permission_classes = ML_ADMIN
    serializer_class = ConflictSerializer

    def get_queryset(self) -> QuerySet[Review]:
        return conflict_reviews(queue=queue_param(self.request))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        reviews = self.get_queryset()
        page = self.paginate_queryset(reviews)
        data = ConflictSerializer(conflicts_for(list(page if page is not None else reviews)), many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)


class SettleView(APIView):
    """POST {"label": ..., "reason": ...} (ML admins): settle a review's label; it overrides what the labels came to."""

    permission_classes = ML_ADMIN
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        description=(
            "Settle a review's label, with the reason: it overrides whatever its labels came to (a conflict, a "
            "majority) and is kept with the ML admin who settled it. ML admins only."
        ),
        request=SettleInput,
        responses=SettledSerializer,
        examples=[
            OpenApiExample(
                "Settle a conflict",
                value={
                    "label": "negative",
                    "reason": "Sarcasm: the praise is ironic and the review complains about the plot.",
                },
                request_only=True,
            ),
            OpenApiExample("Settled", value=SETTLED_EXAMPLE, response_only=True),
        ],
    )
    def post(self, request: Request, review_id: int) -> Response:
        review = Review.objects.filter(pk=review_id).first()
        if review is None:
            raise NotFound(f"There is no review {review_id}.")
        body = SettleInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            resolution = resolution_settle(
                review=review, label=body.validated_data["label"], reason=body.validated_data["reason"], by=caller(request)
            )
        except LabellingRefused as error:
            raise refused(error) from None
        return Response({"review": review.pk, "resolution": ResolutionSerializer(resolution).data})


class AgreementView(APIView):
    """GET ?queue=ID (ML admins): percent agreement and Cohen's kappa per pair and overall; accuracy against gold."""

    permission_classes = ML_ADMIN

    @extend_schema(
        description=(
            "How much the analysts agree on the reviews that two or more of them labelled: percent agreement and "
            "Cohen's kappa for each pair of analysts and overall, and each analyst's accuracy against the gold "
            "labels. ML admins only."
        ),
        parameters=[QUEUE_PARAMETER],
        responses=AgreementSerializer,
        examples=[
            OpenApiExample(
                "Two analysts",
                value={
                    "reviews": 380,
                    "label_pairs": 380,
                    "percent_agreement": 91.6,
                    "kappa": 0.8312,
                    "pairs": [
                        {
                            "analysts": ["anna", "ben"],
                            "reviews": 380,
                            "agreed": 348,
                            "percent_agreement": 91.6,
                            "kappa": 0.8312,
                        }
                    ],
                    "gold_accuracy": [
                        {"analyst": "anna", "labels": 40, "correct": 37, "accuracy": 0.925},
                        {"analyst": "ben", "labels": 38, "correct": 36, "accuracy": 0.9474},
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        summary = agreement_summary(queue=queue_param(request))
        report = summary.report
        return Response(
            {
                "reviews": report.reviews,
                "label_pairs": report.label_pairs,
                "percent_agreement": report.percent,
                "kappa": report.kappa,
                "pairs": [
                    {
                        "analysts": [first, second],
                        "reviews": pair.reviews,
                        "agreed": pair.agreed,
                        "percent_agreement": pair.percent,
                        "kappa": pair.kappa,
                    }
                    for first, second, pair in summary.pair_rows
                ],
                "gold_accuracy": [
                    {"analyst": name, "labels": row.labels, "correct": row.correct, "accuracy": row.accuracy}
                    for name, row in summary.accuracy_rows
                ],
            }
        )

