"""``/api/reviews/``: list with filters and search, create one or (``/api/reviews/bulk/``) up to 1,000; read, delete."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import conflict, invalid
from apps.api.fields import LABEL_NAMES, IdFilterField, LabelField, QueryFilters
from apps.api.idempotency import idempotent
from apps.api.permissions import CREATE_REVIEWS, MANAGE, READ_DATA
from apps.api.throttles import BulkThrottle
from apps.api.views import ApiListView, ApiView, created, get_or_404
from apps.dashboard.selectors import review_label_and_model_filter
from apps.reviews.choices import OriginSplit, Split
from apps.reviews.models import Review
from apps.reviews.selectors import NO_LABEL, LabelFilter, ReviewFilters, review_search
from apps.reviews.services import (
    API_SOURCE,
    BULK_MAX_REVIEWS,
    MAX_REVIEW_TEXT_CHARS,
    CreatedReview,
    NewReview,
    ReviewInputError,
    ReviewInUse,
    review_create_many,
    review_delete,
)
from apps.training.selectors import evaluation_files_holding

REVIEW_EXAMPLE = {
    "id": 50231,
    "source": "crm",
    "external_id": "ticket-8812",
    "text": "A moving film with a superb cast; the ending stayed with me for days.",
    "gold_label": "positive",
    "human_label": None,
    "rating": 9,
    "origin_split": "",
    "import_job": None,
    "created_at": "2025-05-01T09:30:00Z",
}


# --- Serializers -----------------------------------------------------------------------------------------


class ReviewSerializer(serializers.ModelSerializer):
    gold_label = LabelField(allow_null=True)
    human_label = serializers.SerializerMethodField(help_text="The label the review's annotators resolved to, if any.")

    class Meta:
        model = Review
        fields = [
            "id", "source", "external_id", "text", "gold_label", "human_label", "rating", "origin_split",
            "import_job", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field({"type": "string", "enum": LABEL_NAMES, "nullable": True})
    def get_human_label(self, review: Review) -> str | None:
        resolution = getattr(review, "resolution", None)
        return LabelField().to_representation(resolution.label) if resolution is not None else None


class ReviewCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MAX_REVIEW_TEXT_CHARS, trim_whitespace=False)
    external_id = serializers.CharField(
        max_length=255,
        required=False,
        help_text="Your id for the review; sending the same id (and source) again creates nothing. "
        "Left out, the text's sha256 is the id.",
    )
    gold_label = LabelField(required=False, allow_null=True, default=None)
    rating = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=10)

    def to_new_review(self) -> NewReview:
        data = self.validated_data
        return NewReview(
            text=data["text"], external_id=data.get("external_id"), gold_label=data["gold_label"], rating=data["rating"]
        )


class ReviewSingleCreateSerializer(ReviewCreateSerializer):
    # A declared field named "source" shadows Field.source in the stubs; DRF's metaclass takes it off the class.
    source = serializers.CharField(  # type: ignore[assignment]
        max_length=64, required=False, default=API_SOURCE, help_text="Where the review comes from."
    )


class ReviewBulkCreateSerializer(serializers.Serializer):
    source = serializers.CharField(  # type: ignore[assignment]  # a declared field, not Field.source (see above)
        max_length=64, required=False, default=API_SOURCE, help_text="Where the reviews come from, e.g. 'crm'."
    )
    # many=True passes min_length and max_length on to the ListSerializer; the stubs know only the child's arguments.
    reviews = ReviewCreateSerializer(many=True, min_length=1, max_length=BULK_MAX_REVIEWS)  # type: ignore[call-arg]


class CreatedReviewSerializer(serializers.Serializer):
    created = serializers.BooleanField(help_text="False when the review was already stored (same source and id).")
    review = ReviewSerializer()


class BulkCreatedSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="How many reviews were new.")
    existing = serializers.IntegerField(help_text="How many were already stored and left as they were.")
    reviews = CreatedReviewSerializer(many=True)


class ReviewFilterSerializer(QueryFilters):
    search = serializers.CharField(
        required=False, max_length=500, help_text='Words in the text: "quoted phrases" and -excluded words work.'
    )
    source = serializers.CharField(required=False, max_length=64)  # type: ignore[assignment]  # a declared field
    origin_split = serializers.ChoiceField(required=False, choices=[c for c in OriginSplit.values if c])
    gold_label = serializers.ChoiceField(required=False, choices=["negative", "positive", NO_LABEL])
    human_label = serializers.ChoiceField(required=False, choices=["negative", "positive", NO_LABEL])
    snapshot = IdFilterField(help_text="Only reviews in this snapshot.")
    snapshot_split = serializers.ChoiceField(required=False, choices=Split.choices)
    import_job = IdFilterField(help_text="Only reviews this import created.")


# --- Reviews ---------------------------------------------------------------------------------------------


class ReviewListView(ApiListView):
    """Reviews, newest first, with filters and a word search; POST adds one review."""

    required = {"GET": READ_DATA, "POST": CREATE_REVIEWS}
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["reviews"],
        parameters=[ReviewFilterSerializer],
        responses=ReviewSerializer(many=True),
        examples=[OpenApiExample("A review", value=REVIEW_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        query = ReviewFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        wanted = query.validated_data
        filters = ReviewFilters(
            text=wanted.get("search", ""),
            origin_split=wanted.get("origin_split"),
            snapshot_id=wanted.get("snapshot"),
            snapshot_split=wanted.get("snapshot_split"),
            gold_label=_label_filter(wanted.get("gold_label")),
            human_label=_label_filter(wanted.get("human_label")),
        )
        reviews = Review.objects.select_related("resolution")
        if filters != ReviewFilters():
            # The selector's matches as a subquery: the page orders and reads the rows itself.
            reviews = reviews.filter(pk__in=review_search(filters, narrow=review_label_and_model_filter(filters)))
        if "source" in wanted:
            reviews = reviews.filter(source=wanted["source"])
        if "import_job" in wanted:
            reviews = reviews.filter(import_job_id=wanted["import_job"])
        return self.page(reviews, ReviewSerializer)

    @extend_schema(
        tags=["reviews"],
        description=(
            "Add one review. Sending the same review again (same source and external id, or the same text "
            "without an id) creates nothing and answers 200 with the stored review."
        ),
        request=ReviewSingleCreateSerializer,
        responses={201: ReviewSerializer, 200: ReviewSerializer},
        examples=[
            OpenApiExample(
                "A labelled review",
                value={
                    "text": REVIEW_EXAMPLE["text"],
                    "external_id": "ticket-8812",
                    "source": "crm",
                    "gold_label": "positive",
                    "rating": 9,
                },
                request_only=True,
            ),
            OpenApiExample("The stored review", value=REVIEW_EXAMPLE, response_only=True, status_codes=["201", "200"]),
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        body = ReviewSingleCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        (result,) = _create(reviews=[body.to_new_review()], source=body.validated_data["source"], field="body")
        data = ReviewSerializer(result.review).data
        if not result.created:
            return Response(data)
        return created(data, f"/api/reviews/{result.review.pk}/")


class ReviewBulkCreateView(ApiView):
    """Add up to 1,000 reviews in one request, all or nothing."""

    required = {"POST": CREATE_REVIEWS}
    parser_classes = [JSONParser]
    throttle_classes = [BulkThrottle]

    @extend_schema(
        tags=["reviews"],
        description=(
            f"Add up to {BULK_MAX_REVIEWS:,} reviews in one request. Every review is checked first: one bad "
            "review (named in `fields` as `reviews[i].text`) and none is stored. Reviews already stored (same "
            "source and external id, or the same text without an id) are answered with `created: false` and "
            "left as they are, so sending a batch twice stores it once. Send an `Idempotency-Key` to retry "
            "safely after a lost answer."
        ),
        request=ReviewBulkCreateSerializer,
        responses={201: BulkCreatedSerializer},
        examples=[
            OpenApiExample(
                "Two reviews from a CRM",
                value={
                    "source": "crm",
                    "reviews": [
                        {
                            "text": "A moving film with a superb cast.",
                            "external_id": "ticket-8812",
                            "gold_label": "positive",
                        },
                        {"text": "Tedious and far too long.", "external_id": "ticket-8813"},
                    ],
                },
                request_only=True,
            ),
            OpenApiExample(
                "Stored",
                value={
                    "created": 1,
                    "existing": 1,
                    "reviews": [
                        {"created": True, "review": REVIEW_EXAMPLE},
                        {
                            "created": False,
                            "review": {
                                **REVIEW_EXAMPLE,
                                "id": 50232,
                                "external_id": "ticket-8813",
                                "text": "Tedious and far too long.",
                                "gold_label": None,
                                "rating": None,
                            },
                        },
                    ],
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        body = ReviewBulkCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reviews = [
            NewReview(
                text=item["text"],
                external_id=item.get("external_id"),
                gold_label=item["gold_label"],
                rating=item["rating"],
            )
            for item in body.validated_data["reviews"]
        ]
        results = _create(reviews=reviews, source=body.validated_data["source"], field="reviews")
        new = sum(result.created for result in results)
        return Response(
            {
                "created": new,
                "existing": len(results) - new,
                "reviews": [
                    {"created": result.created, "review": ReviewSerializer(result.review).data} for result in results
                ],
            },
            status=status.HTTP_201_CREATED,
        )


class ReviewDetailView(ApiView):
    """One review, with its gold label and resolved human label."""

    required = {"GET": READ_DATA, "DELETE": MANAGE}

    @extend_schema(
        tags=["reviews"],
        responses=ReviewSerializer,
        examples=[OpenApiExample("A review", value=REVIEW_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(ReviewSerializer(get_or_404(Review.objects.select_related("resolution"), pk, "review")).data)

    @extend_schema(
        tags=["reviews"],
        description=(
            "Delete the review with its annotations and predictions. Refused with 409 while a snapshot holds it: "
            "snapshots never change."
        ),
        responses={204: None, 409: None},
    )
    def delete(self, request: Request, pk: int) -> Response:
        review = get_or_404(Review.objects.all(), pk, "review")
        try:
            review_delete(review=review, held_by=[evaluation_files_holding])
        except ReviewInUse as error:
            raise conflict(str(error), code="in_snapshot") from None
        return Response(status=status.HTTP_204_NO_CONTENT)


def _create(*, reviews: list[NewReview], source: str, field: str) -> list[CreatedReview]:
    try:
        return review_create_many(reviews=reviews, source=source, field=field)
    except ReviewInputError as error:
        # A single review is the body itself: "body[0].text" reads better as "text".
        errors = (
            error.errors
            if field != "body"
            else {name.removeprefix("body[0]."): text for name, text in error.errors.items()}
        )
        raise invalid(errors) from None


def _label_filter(value: str | None) -> LabelFilter:
    if value is None:
        return None
    if value == NO_LABEL:
        return NO_LABEL
    return LabelField().to_internal_value(value)


