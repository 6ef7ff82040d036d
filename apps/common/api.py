"""API tokens through the API: sign in for a token, and list, create and revoke one's own tokens.

A token's key is shown once, in the answer that creates it; the database keeps only its sha256.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.errors import ApiError, invalid
from apps.api.throttles import LoginThrottle
from apps.api.views import ApiListView, ApiView, created, get_or_404
from apps.common.models import ApiToken
from apps.common.roles import signed_in
from apps.common.services import ApiTokenError, api_token_create, api_token_revoke

NAME_MAX_LENGTH = ApiToken._meta.get_field("name").max_length or 100

TOKEN_EXAMPLE = {
    "id": 7,
    "name": "CRM sync",
    "prefix": "q3Zk9Tbx",
    "created_at": "2025-05-01T09:30:00Z",
    "last_used_at": "2025-05-02T08:00:12Z",
    "revoked_at": None,
}
NEW_TOKEN_EXAMPLE = {**TOKEN_EXAMPLE, "last_used_at": None, "key": "q3Zk9Tbx4m0Jc1v8YwQe2rGdLp6sNh5uAa7tKiBfXzE"}


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class NewApiTokenSerializer(ApiTokenSerializer):
    key = serializers.CharField(
        help_text="The token's key: shown only in this answer. Send it as `Authorization: Token <key>`."
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]
        read_only_fields = fields


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=NAME_MAX_LENGTH, help_text="What the token is for, e.g. 'CRM sync'.")


class TokenLoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    name = serializers.CharField(
        max_length=NAME_MAX_LENGTH, required=False, default="API login", help_text="What the token is for."
    )


def _new_token_body(token: ApiToken, key: str) -> dict[str, Any]:
    return {**ApiTokenSerializer(token).data, "key": key}


class TokenLoginView(ApiView):
    """Sign in with a user name and password and get a new API token (the key is shown once).

    The way in for a program that has an account but no token yet. Limited to a few tries a minute per
    address. Store the key where the program reads it; list and revoke tokens at `/api/tokens/`.
    """

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["auth"],
        request=TokenLoginSerializer,
        responses={201: NewApiTokenSerializer},
        auth=[],
        examples=[
            OpenApiExample(
                "Sign in",
                value={"username": "crm-bot", "password": "a long password", "name": "CRM sync"},
                request_only=True,
            ),
            OpenApiExample("New token", value=NEW_TOKEN_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    )
    def post(self, request: Request) -> Response:
        body = TokenLoginSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = authenticate(
            request._request, username=body.validated_data["username"], password=body.validated_data["password"]
        )
        # The backends give back a User (the project's user model) or None.
        if not isinstance(user, User):
            raise ApiError(
                status.HTTP_400_BAD_REQUEST,
                "invalid_credentials",
                "No active account has that user name and password.",
            )
        try:
            token, key = api_token_create(user=user, name=body.validated_data["name"])
        except ApiTokenError as error:
            raise invalid({"name": str(error)}) from None
        return created(_new_token_body(token, key), f"/api/tokens/{token.pk}/")


class TokenListView(ApiListView):
    """Your API tokens, newest first, revoked ones included (never their keys)."""

    parser_classes = [JSONParser]

    @extend_schema(
        tags=["auth"],
        responses=ApiTokenSerializer(many=True),
        examples=[OpenApiExample("Your tokens", value=TOKEN_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return self.page(ApiToken.objects.filter(user=signed_in(request)), ApiTokenSerializer)

    @extend_schema(
        tags=["auth"],
        description="Create a token for yourself. The answer holds its key: the only time it is shown.",
        request=TokenCreateSerializer,
        responses={201: NewApiTokenSerializer},
        examples=[
            OpenApiExample("A token for a nightly job", value={"name": "nightly export"}, request_only=True),
            OpenApiExample("New token", value=NEW_TOKEN_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    )
    def post(self, request: Request) -> Response:
        body = TokenCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            token, key = api_token_create(user=signed_in(request), name=body.validated_data["name"])
        except ApiTokenError as error:
            raise invalid({"name": str(error)}) from None
        return created(_new_token_body(token, key), f"/api/tokens/{token.pk}/")


class TokenDetailView(ApiView):
    """One of your API tokens; DELETE revokes it for good (requests with it then get 401)."""

    @extend_schema(
        tags=["auth"],
        responses=ApiTokenSerializer,
        examples=[OpenApiExample("A token", value=TOKEN_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(
            ApiTokenSerializer(get_or_404(ApiToken.objects.filter(user=signed_in(request)), pk, "API token")).data
        )

    @extend_schema(
        tags=["auth"],
        description="Revoke the token: it stays listed, with `revoked_at`, and stops working at once.",
        responses={204: None},
    )
    def delete(self, request: Request, pk: int) -> Response:
        token = get_or_404(ApiToken.objects.filter(user=signed_in(request)), pk, "API token")
        api_token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
