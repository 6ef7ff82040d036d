"""REST API for webhooks: subscribers (URL, events, secret), a test ping, and the log of deliveries."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import invalid
from apps.api.fields import QueryFilters
from apps.api.permissions import MANAGE
from apps.api.views import ApiListView, ApiView, created, get_or_404
from apps.common.roles import signed_in
from apps.webhooks.choices import SUBSCRIBABLE_EVENTS, DeliveryStatus, WebhookEvent
from apps.webhooks.models import WebhookDelivery, WebhookSubscription
from apps.webhooks.services import (
    MIN_SECRET_LENGTH,
    WebhookError,
    webhook_ping,
    webhook_subscription_create,
    webhook_subscription_update,
)

SUBSCRIPTION_EXAMPLE = {
    "id": 2,
    "name": "CI deploy hook",
    "url": "https://ci.example.com/hooks/sentiment",
    "events": ["training_run.finished", "model_version.promoted"],
    "is_active": True,
    "created_at": "2025-05-01T09:30:00Z",
    "updated_at": "2025-05-01T09:30:00Z",
}
DELIVERY_EXAMPLE = {
    "id": 311,
    "subscription": 2,
    "event": "training_run.finished",
    "event_id": "0b6f3a52-5d1e-4c55-9a57-2f1f0c7a8e11",
    "payload": {
        "id": "0b6f3a52-5d1e-4c55-9a57-2f1f0c7a8e11",
        "event": "training_run.finished",
        "created_at": "2025-05-01T09:52:40+00:00",
        "data": {
            "training_run": {"id": 17, "status": "succeeded", "accuracy": 0.9232, "model_version": 9},
            "path": "/api/training-runs/17/",
        },
    },
    "status": "succeeded",
    "attempts": 2,
    "next_attempt_at": None,
    "last_attempt_at": "2025-05-01T09:53:10Z",
    "delivered_at": "2025-05-01T09:53:10Z",
    "response_status": 200,
    "response_body": "ok",
    "error": "",
    "duration_ms": 84.1,
    "attempt_log": "2025-05-01T09:52:40+00:00 attempt 1: failed: HTTP 503 Service Unavailable; next try in 30 s (120 ms)\n"
    "2025-05-01T09:53:10+00:00 attempt 2: delivered (200) (84 ms)\n",
    "created_at": "2025-05-01T09:52:40Z",
}


class SubscriptionSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS))

    class Meta:
        model = WebhookSubscription
        fields = ["id", "name", "url", "events", "is_active", "created_at", "updated_at"]
        read_only_fields = fields


class NewSubscriptionSerializer(SubscriptionSerializer):
    secret = serializers.CharField(help_text="Signs every delivery. Shown in this answer only: store it now.")

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields


URL_PATTERN = r"^https?://[\x21-\x7e]+$"


@extend_schema_field({"type": "string", "format": "uri", "pattern": URL_PATTERN, "maxLength": 2000})
class WebhookUrlField(serializers.URLField):
    """An http(s) URL in its ASCII form, as the schema declares it (``format: uri``): Django's URLField alone also
    takes IRIs (non-ASCII characters) and other schemes, which are not what the schema promises."""

    default_error_messages = {
        "scheme": "A webhook URL is http:// or https://.",
        "ascii": "Give the URL in its ASCII form: non-ASCII host names as punycode (xn--...), other characters "
        "percent-encoded, no spaces.",
    }

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not value.lower().startswith(("http://", "https://")):
            self.fail("scheme")
        if not re.fullmatch(URL_PATTERN, value):
            self.fail("ascii")
        return value


class SubscriptionCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    url = WebhookUrlField(max_length=2000, help_text="http(s) on a public address; redirects are not followed.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS), min_length=1, max_length=len(SUBSCRIBABLE_EVENTS)
    )
    secret = serializers.CharField(
        required=False,
        min_length=MIN_SECRET_LENGTH,
        max_length=200,
        help_text="Leave it out to get a random one (in the answer).",
    )
    is_active = serializers.BooleanField(default=True, help_text="False: subscribed, but nothing is sent yet.")


class SubscriptionUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    url = WebhookUrlField(max_length=2000, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS),
        min_length=1,
        max_length=len(SUBSCRIBABLE_EVENTS),
        required=False,
    )
    secret = serializers.CharField(min_length=MIN_SECRET_LENGTH, max_length=200, required=False)
    is_active = serializers.BooleanField(required=False)


class DeliverySerializer(serializers.ModelSerializer):
    event = serializers.ChoiceField(choices=WebhookEvent.choices)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "subscription", "event", "event_id", "payload", "status", "attempts", "next_attempt_at",
            "last_attempt_at", "delivered_at", "response_status", "response_body", "error", "duration_ms",
            "attempt_log", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class DeliveryFilterSerializer(QueryFilters):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)
    event = serializers.ChoiceField(choices=WebhookEvent.choices, required=False)


def _subscription(pk: int) -> WebhookSubscription:
    return get_or_404(WebhookSubscription.objects.all(), pk, "webhook subscriber")


class SubscriptionListView(ApiListView):
    """Webhook subscribers; POST adds one."""

    required = {"GET": MANAGE, "POST": MANAGE}
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["webhooks"],
        responses=SubscriptionSerializer(many=True),
        examples=[OpenApiExample("A subscriber", value=SUBSCRIPTION_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return self.page(WebhookSubscription.objects.all(), SubscriptionSerializer)

    @extend_schema(
        tags=["webhooks"],
        description=(
            "Subscribe a URL to events: `training_run.finished`, `evaluation_run.finished`, "
            "`model_version.promoted`, `import.finished`, `cycle.finished` (a retraining cycle). Each delivery is a signed JSON POST (see the guide at "
            "the top); failures are retried with growing delays. The URL must be on a public address. The "
            "answer holds the secret that signs the deliveries: the only time it is shown."
        ),
        request=SubscriptionCreateSerializer,
        responses={201: NewSubscriptionSerializer},
        examples=[
            OpenApiExample(
                "Runs and promotions",
                value={
                    "name": "CI deploy hook",
                    "url": "https://ci.example.com/hooks/sentiment",
                    "events": ["training_run.finished", "model_version.promoted"],
                },
                request_only=True,
            ),
            OpenApiExample(
                "Subscribed",
                value={**SUBSCRIPTION_EXAMPLE, "secret": "mZ1o0c9uVwq3Jx7fQ2yK4bHn8sR5tLp6dA0eGi3Wj1U"},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        body = SubscriptionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            subscription = webhook_subscription_create(**body.validated_data, created_by=signed_in(request))
        except WebhookError as error:
            raise invalid(error.errors) from None
        data = {**SubscriptionSerializer(subscription).data, "secret": subscription.secret}
        return created(data, f"/api/webhooks/{subscription.pk}/")


class SubscriptionDetailView(ApiView):
    """One webhook subscriber: read, change (PATCH) or delete it with its deliveries."""

    required = {"GET": MANAGE, "PATCH": MANAGE, "DELETE": MANAGE}
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["webhooks"],
        responses=SubscriptionSerializer,
        examples=[OpenApiExample("A subscriber", value=SUBSCRIPTION_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(SubscriptionSerializer(_subscription(pk)).data)

    @extend_schema(
        tags=["webhooks"],
        description="Change any of name, url, events, secret and is_active; a new URL is checked again.",
        request=SubscriptionUpdateSerializer,
        responses=SubscriptionSerializer,
        examples=[
            OpenApiExample("Pause it", value={"is_active": False}, request_only=True),
            OpenApiExample("Paused", value={**SUBSCRIPTION_EXAMPLE, "is_active": False}, response_only=True),
        ],
    )
    def patch(self, request: Request, pk: int) -> Response:
        subscription = _subscription(pk)
        body = SubscriptionUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            webhook_subscription_update(subscription=subscription, **body.validated_data)
        except WebhookError as error:
            raise invalid(error.errors) from None
        return Response(SubscriptionSerializer(subscription).data)

    @extend_schema(tags=["webhooks"], description="Delete the subscriber and its delivery log.", responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        _subscription(pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class SubscriptionPingView(ApiView):
    """Send the subscriber a ``ping`` event now, to test its URL and the signature check."""

    required = {"POST": MANAGE}

    @extend_schema(
        tags=["webhooks"],
        request=None,
        responses={202: DeliverySerializer},
        examples=[
            OpenApiExample(
                "Queued",
                value={
                    **DELIVERY_EXAMPLE,
                    "event": "ping",
                    "status": "pending",
                    "attempts": 0,
                    "payload": {
                        "event": "ping",
                        "data": {"subscription": 2, "message": "A test delivery: your endpoint and secret work."},
                    },
                    "delivered_at": None,
                    "last_attempt_at": None,
                    "response_status": None,
                    "response_body": "",
                    "duration_ms": None,
                    "attempt_log": "",
                },
                response_only=True,
                status_codes=["202"],
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        delivery = webhook_ping(subscription=_subscription(pk))
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class DeliveryListView(ApiListView):
    """The deliveries to one subscriber, newest first: status, attempts, the receiver's answers."""

    required = {"GET": MANAGE}

    @extend_schema(
        tags=["webhooks"],
        parameters=[DeliveryFilterSerializer],
        responses=DeliverySerializer(many=True),
        examples=[OpenApiExample("A delivery after one retry", value=DELIVERY_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        subscription = _subscription(pk)
        query = DeliveryFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        deliveries: Any = subscription.deliveries.all()
        for name in ("status", "event"):
            if name in query.validated_data:
                deliveries = deliveries.filter(**{name: query.validated_data[name]})
        return self.page(deliveries, DeliverySerializer)
