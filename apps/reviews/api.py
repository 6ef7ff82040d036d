"""REST API for reviews, imports and dataset snapshots.

- ``/api/reviews/``: list with filters and search; create one review; ``/api/reviews/bulk/`` creates up to
  1,000 at once; ``/api/reviews/<id>/`` reads one and, for ML admins, deletes it.
- ``/api/imports/``: upload a file to import on a worker, follow its status.
- ``/api/snapshots/``: freeze the labelled reviews into a snapshot; read one with its counts and hash.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import ApiError, conflict, invalid
from apps.api.fields import LABEL_NAMES, IdFilterField, LabelField, QueryFilters
from apps.api.idempotency import idempotent
from apps.api.permissions import CREATE_REVIEWS, MANAGE, READ_DATA
from apps.api.throttles import BulkThrottle
from apps.api.views import ApiListView, ApiView, created, get_or_404
from apps.common.models import IllegalTransition
from apps.reviews.choices import LabelSource, OriginSplit, Split
from apps.reviews.importers import ReviewImportError
from apps.reviews.models import DatasetSnapshot, ImportJob, Review
from apps.reviews.selectors import NO_LABEL, ReviewFilters, review_search
from apps.reviews.services import (
    API_SOURCE,
    BULK_MAX_REVIEWS,
    MAX_REVIEW_TEXT_CHARS,
    CreatedReview,
    NewReview,
    ReviewInputError,
    ReviewInUse,
    import_job_cancel,
    import_upload_enqueue,
    review_create_many,
    review_delete,
)
from apps.reviews.snapshots import MAX_SEED, SnapshotError, snapshot_create, snapshot_label_counts

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
IMPORT_EXAMPLE = {
    "id": 12,
    "status": "succeeded",
    "source": "/var/lib/sentiment/uploads/5f2c.../reviews.csv",
    "source_name": "reviews",
    "rows_read": 2000,
    "rows_created": 1987,
    "rows_existing": 13,
    "error": "",
    "log_tail": "Read 2000 reviews from ... in 1.2s as source 'reviews': 1987 new, 13 already present.\n",
    "created_at": "2025-05-01T09:30:00Z",
    "updated_at": "2025-05-01T09:30:03Z",
    "started_at": "2025-05-01T09:30:01Z",
    "finished_at": "2025-05-01T09:30:03Z",
}
SNAPSHOT_EXAMPLE = {
    "id": 3,
    "name": "Gold labels, seed 42, 50,000 reviews",
    "description": "",
    "label_source": "gold",
    "seed": 42,
    "keeps_origin_split": False,
    "train_fraction": 0.8,
    "validation_fraction": 0.1,
    "test_fraction": 0.1,
    "content_hash": "9f2d1c0b7e6a5d4c3b2a19f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a",
    "train_count": 40000,
    "validation_count": 5000,
    "test_count": 5000,
    "positive_count": 25000,
    "negative_count": 25000,
    "created_at": "2025-05-01T09:30:00Z",
}
SNAPSHOT_DETAIL_EXAMPLE = {
    **SNAPSHOT_EXAMPLE,
    "label_counts": {
        "train": {"negative": 20000, "positive": 20000},
        "validation": {"negative": 2500, "positive": 2500},
        "test": {"negative": 2500, "positive": 2500},
    },
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
    source = serializers.CharField(
        max_length=64, required=False, default=API_SOURCE, help_text="Where the review comes from."
    )


class ReviewBulkCreateSerializer(serializers.Serializer):
    source = serializers.CharField(
        max_length=64, required=False, default=API_SOURCE, help_text="Where the reviews come from, e.g. 'crm'."
    )
    reviews = ReviewCreateSerializer(many=True, min_length=1, max_length=BULK_MAX_REVIEWS)


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
    source = serializers.CharField(required=False, max_length=64)
    origin_split = serializers.ChoiceField(required=False, choices=[c for c in OriginSplit.values if c])
    gold_label = serializers.ChoiceField(required=False, choices=["negative", "positive", NO_LABEL])
    human_label = serializers.ChoiceField(required=False, choices=["negative", "positive", NO_LABEL])
    snapshot = IdFilterField(help_text="Only reviews in this snapshot.")
    snapshot_split = serializers.ChoiceField(required=False, choices=Split.choices)
    import_job = IdFilterField(help_text="Only reviews this import created.")


class ImportJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportJob
        fields = [
            "id", "status", "source", "source_name", "rows_read", "rows_created", "rows_existing", "error",
            "log_tail", "created_at", "updated_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="A .csv (review,sentiment), .jsonl (text, label), .parquet or aclImdb .tar.gz file."
    )
    source_name = serializers.CharField(
        max_length=64, required=False, help_text="Stored as the reviews' source; default: the file's name."
    )


class SnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = DatasetSnapshot
        fields = [
            "id", "name", "description", "label_source", "seed", "keeps_origin_split", "train_fraction",
            "validation_fraction", "test_fraction", "content_hash", "train_count", "validation_count", "test_count", "positive_count",
            "negative_count", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class LabelCountsSerializer(serializers.Serializer):
    negative = serializers.IntegerField()
    positive = serializers.IntegerField()


class SplitLabelCountsSerializer(serializers.Serializer):
    train = LabelCountsSerializer()
    validation = LabelCountsSerializer()
    test = LabelCountsSerializer()


class SnapshotDetailSerializer(SnapshotSerializer):
    label_counts = serializers.SerializerMethodField()

    class Meta(SnapshotSerializer.Meta):
        fields = [*SnapshotSerializer.Meta.fields, "label_counts"]
        read_only_fields = fields

    @extend_schema_field(SplitLabelCountsSerializer)
    def get_label_counts(self, snapshot: DatasetSnapshot) -> dict[str, dict[str, int]]:
        counts = snapshot_label_counts(snapshot=snapshot)
        return {split: {"negative": row[0], "positive": row[1]} for split, row in counts.items()}


class SnapshotCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=10_000, required=False, allow_blank=True, default="")
    label_source = serializers.ChoiceField(choices=LabelSource.choices, default=LabelSource.GOLD)
    seed = serializers.IntegerField(min_value=0, max_value=MAX_SEED, default=42)
    train_fraction = serializers.FloatField(min_value=0, max_value=1, default=0.8)
    validation_fraction = serializers.FloatField(min_value=0, max_value=1, default=0.1)
    test_fraction = serializers.FloatField(min_value=0, max_value=1, default=0.1)
    keep_origin_split = serializers.BooleanField(
        default=False,
        help_text=(
            "Keep the source's own split (IMDb's 25,000 / 25,000, the standard benchmark): its test half is the test "
            "split and validation_fraction of its train half is validation; train_fraction and test_fraction are "
            "not used."
        ),
    )


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
            reviews = reviews.filter(pk__in=review_search(filters))
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
            review_delete(review=review)
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


def _label_filter(value: str | None) -> int | str | None:
    if value is None or value == NO_LABEL:
        return value
    return LabelField().to_internal_value(value)


# --- Imports ---------------------------------------------------------------------------------------------


class ImportListView(ApiListView):
    """Imports, newest first; POST uploads a file and queues its import on a worker."""

    required = {"GET": READ_DATA, "POST": MANAGE}
    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [BulkThrottle]

    @extend_schema(
        tags=["imports"],
        responses=ImportJobSerializer(many=True),
        examples=[OpenApiExample("An import", value=IMPORT_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return self.page(ImportJob.objects.all(), ImportJobSerializer)

    @extend_schema(
        tags=["imports"],
        description=(
            "Upload a file of reviews (multipart/form-data, field `file`) and queue its import: 202 with the "
            "import, `queued`. Poll `GET /api/imports/{id}/` until its status is `succeeded` or `failed`; the "
            "`import.finished` webhook says so too. An import is all or nothing and adds no review twice."
        ),
        request={"multipart/form-data": ImportUploadSerializer},
        responses={202: ImportJobSerializer, 413: None},
        examples=[
            OpenApiExample(
                "Queued",
                value={
                    **IMPORT_EXAMPLE,
                    "status": "queued",
                    "rows_read": 0,
                    "rows_created": 0,
                    "rows_existing": 0,
                    "log_tail": "",
                    "started_at": None,
                    "finished_at": None,
                },
                response_only=True,
                status_codes=["202"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        body = ImportUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            job = import_upload_enqueue(
                file=body.validated_data["file"],
                source_name=body.validated_data.get("source_name"),
                created_by=request.user,
            )
        except ReviewImportError as error:
            if "largest upload" in str(error):
                raise ApiError(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "too_large", str(error)) from None
            raise invalid({"file": str(error)}) from None
        return created(ImportJobSerializer(job).data, f"/api/imports/{job.pk}/", http_status=status.HTTP_202_ACCEPTED)


class ImportDetailView(ApiView):
    """One import: its status, counts, error and log. Poll it with If-None-Match for a cheap 304."""

    required = {"GET": READ_DATA}

    @extend_schema(
        tags=["imports"],
        responses=ImportJobSerializer,
        examples=[OpenApiExample("A finished import", value=IMPORT_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(ImportJobSerializer(get_or_404(ImportJob.objects.all(), pk, "import")).data)


class ImportCancelView(ApiView):
    """Cancel an import: a queued one at once, a running one before its next chunk; it imports nothing."""

    required = {"POST": MANAGE}

    @extend_schema(
        tags=["imports"],
        request=None,
        responses={200: ImportJobSerializer, 409: None},
        examples=[OpenApiExample("Cancelled", value={**IMPORT_EXAMPLE, "status": "cancelled"}, response_only=True)],
    )
    def post(self, request: Request, pk: int) -> Response:
        job = get_or_404(ImportJob.objects.all(), pk, "import")
        try:
            job = import_job_cancel(job=job, by=request.user)
        except IllegalTransition as error:
            raise conflict(str(error)) from None
        return Response(ImportJobSerializer(ImportJob.objects.get(pk=job.pk)).data)


# --- Snapshots -------------------------------------------------------------------------------------------


class SnapshotListView(ApiListView):
    """Dataset snapshots, newest first; POST freezes the labelled reviews into a new one."""

    required = {"GET": READ_DATA, "POST": MANAGE}
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["snapshots"],
        responses=SnapshotSerializer(many=True),
        examples=[OpenApiExample("A snapshot", value=SNAPSHOT_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return self.page(DatasetSnapshot.objects.all(), SnapshotSerializer)

    @extend_schema(
        tags=["snapshots"],
        description=(
            "Freeze the labelled reviews into a snapshot with a seeded, stratified train/validation/test split. "
            "The same seed over the same reviews always gives the same split, and so the same `content_hash`. "
            "`label_source`: `gold` (the dataset's labels), `human` (resolved human labels) or `gold_and_human`."
        ),
        request=SnapshotCreateSerializer,
        responses={201: SnapshotDetailSerializer},
        examples=[
            OpenApiExample(
                "The seed project's 80/10/10 split",
                value={
                    "name": "IMDb gold",
                    "seed": 42,
                    "train_fraction": 0.8,
                    "validation_fraction": 0.1,
                    "test_fraction": 0.1,
                    "label_source": "gold",
                },
                request_only=True,
            ),
            OpenApiExample(
                "The standard benchmark: IMDb's own train and test halves",
                value={"name": "IMDb benchmark", "seed": 42, "validation_fraction": 0.1, "keep_origin_split": True},
                request_only=True,
            ),
            OpenApiExample("Created", value=SNAPSHOT_DETAIL_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        body = SnapshotCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            snapshot = snapshot_create(**body.validated_data, created_by=request.user)
        except SnapshotError as error:
            raise invalid({"body": str(error)}) from None
        return created(SnapshotDetailSerializer(snapshot).data, f"/api/snapshots/{snapshot.pk}/")


class SnapshotDetailView(ApiView):
    """One snapshot: its split sizes, the label counts of each split and its content hash."""

    required = {"GET": READ_DATA}

    @extend_schema(
        tags=["snapshots"],
        responses=SnapshotDetailSerializer,
        examples=[OpenApiExample("A snapshot", value=SNAPSHOT_DETAIL_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(SnapshotDetailSerializer(get_or_404(DatasetSnapshot.objects.all(), pk, "snapshot")).data)
