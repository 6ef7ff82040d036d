"""How the API describes itself in OpenAPI 3 (drf-spectacular): token auth, roles, errors, headers, the guide.

Every operation gets, besides what its view declares: the roles that may call it (in its description),
the error responses it can give in the error envelope (400, 401, 403, 404, 409, 413 on writes, 429, 503
and a default for the rest), ``ETag`` on successful GETs and their bodiless 304, and ``Retry-After`` on 429.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import Direction, OpenApiExample, OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from apps.api.idempotency import IDEMPOTENCY_PARAMETER, REPLAYED_RESPONSE_HEADER
from apps.api.permissions import HOLDERS, Capability, required_capability
from apps.api.throttles import _ScopedThrottle

GUIDE = Path(__file__).with_name("guide.md")

ERROR_DESCRIPTIONS = {
    "400": "The request is not valid: `fields` names each input that was wrong.",
    "401": "No credentials, or a token that is unknown or revoked. Send `Authorization: Token <key>`.",
    "403": "Your roles do not allow this (or, with a session, the CSRF token is missing).",
    "404": "There is no such resource.",
    "409": "The resource's state does not allow this now (a run that has already finished, say).",
    "413": "The body or upload is larger than the limit (DATA_UPLOAD_MAX_MEMORY_SIZE, IMPORT_MAX_UPLOAD_BYTES).",
    "422": "The Idempotency-Key was used for a different request.",
    "429": "Too many requests: wait the seconds `Retry-After` says, then try again.",
    "503": (
        "Unavailable for now, with `Retry-After`: the database or the task broker cannot be reached, or (predictions) "
        "no model version is current or its files cannot be loaded."
    ),
    "default": "Any other error, in the same envelope.",
}
ERROR_EXAMPLES = {
    "400": (
        "invalid",
        "epochs: Epochs must be between 1 and 100 (got 0).",
        {"epochs": "Epochs must be between 1 and 100 (got 0)."},
    ),
    "401": ("not_authenticated", "Authentication credentials were not provided.", {}),
    "403": (
        "permission_denied",
        "Only ML admins may do this (your roles: analyst): ask an administrator to add your account to the ml_admin group.",
        {},
    ),
    "404": ("not_found", "There is no training run 42.", {}),
    "409": ("conflict", "Training run 42 has already succeeded: there is nothing to cancel.", {}),
    "413": ("too_large", "reviews.csv is 73,400,320 bytes; the largest upload is 52,428,800 bytes.", {}),
    "422": (
        "idempotency_key_reused",
        "The Idempotency-Key 'run-2024-05-01' was used for a different request (another endpoint or body) in the last 24 hours. Use a new key for a new request.",
        {},
    ),
    "429": ("throttled", "Request was throttled. Expected available in 12 seconds.", {}),
    "503": ("no_current_model", "No model is current yet: an ML admin promotes one in Models/the admin.", {}),
    "default": ("server_error", "Something went wrong on our side; it has been logged. Try again later.", {}),
}


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="A stable word to branch on: invalid, not_authenticated, permission_denied, not_found, conflict, throttled..."
    )
    message = serializers.CharField(help_text="What went wrong and what to do, for a person.")
    # The serializer's metaclass takes declared fields out of the class, so ``Serializer.fields`` stays as it is.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.CharField(),
        help_text='One message per input that was wrong, e.g. {"texts[2]": "The review is empty..."}; "body" for the request as a whole.',
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.common.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "An API token: send `Authorization: Token <key>`. Create one with `POST /api/auth/token/` "
                "(user name and password) or `POST /api/tokens/`; the key is shown once."
            ),
        }


class PredictRequestSchema(OpenApiSerializerExtension):
    """``POST /api/predict`` takes exactly one of ``text`` and ``texts`` (a list of 1 to PREDICTION_MAX_BATCH):
    said as ``oneOf``, so that ``{}``, ``{"texts": []}`` or both keys break the schema as they break the server."""

    target_class = "apps.predictions.api.PredictRequestSerializer"

    def map_serializer(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        review = {
            "type": "string",
            "minLength": 1,
            "maxLength": int(settings.PREDICTION_MAX_CHARS),
            "pattern": r"\S",
            "description": "A review's text (not only spaces).",
        }
        return {
            "oneOf": [
                {
                    "type": "object",
                    "title": "One review",
                    "properties": {"text": review},
                    "required": ["text"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "title": "Several reviews",
                    "properties": {
                        "texts": {
                            "type": "array",
                            "items": review,
                            "minItems": 1,
                            "maxItems": int(settings.PREDICTION_MAX_BATCH),
                            "description": "Answered in order.",
                        }
                    },
                    "required": ["texts"],
                    "additionalProperties": False,
                },
            ]
        }


class ApiAutoSchema(AutoSchema):
    def get_serializer_name(self, serializer: Any, direction: Direction) -> str:
        """A serializer of another app's model is named after its own app too ("LabellingReview").

        Several apps show the same model their own way; without this, their components would share one
        name ("Review") and one would silently replace the other in the schema.
        """
        name = super().get_serializer_name(serializer, direction)
        model = getattr(getattr(serializer, "Meta", None), "model", None)
        if model is None:
            return name
        module = serializer.__class__.__module__
        own_app = module.split(".")[1] if module.startswith("apps.") else None
        if own_app and own_app != model._meta.app_label and not name.lower().startswith(own_app):
            return own_app.capitalize() + name
        return name

    # drf-spectacular's AutoSchema itself narrows ViewInspector's get_description(path, method) to this.
    def get_description(self) -> str:  # type: ignore[override]
        description = super().get_description() or ""
        if self._is_public() or not hasattr(self.view, "required"):
            # Views outside apps.api's ApiView say in their own words who may call them.
            return description
        wanted = required_capability(self.view, self.method)
        roles = "Any signed-in user." if wanted == Capability.SIGNED_IN else f"Roles: {HOLDERS[wanted]}."
        return f"{description}\n\n**{roles}**".strip()

    def _get_response_bodies(self, direction: Direction = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code, response in responses.items():
            # A view that names an error status without a body gets the error envelope there.
            if code in ERROR_EXAMPLES and "content" not in response:
                responses[code] = self._get_response_for_code(_error_response(code), code, direction=direction)
        for code in self._error_codes():
            if code not in responses:
                responses[code] = self._get_response_for_code(_error_response(code), code, direction=direction)
        if self.method == "GET" and "200" in responses:
            # Every GET answers If-None-Match with a bodiless 304 while nothing changed (ApiConditionalGetMiddleware).
            responses["304"] = {
                "description": "Not Modified: the resource still has the ETag sent in `If-None-Match`; no body.",
                "headers": {"ETag": {"schema": {"type": "string"}, "description": "The resource's ETag."}},
            }
        return responses

    def _get_response_headers_for_code(self, status_code: str, direction: str = "response") -> dict[str, Any]:
        headers = super()._get_response_headers_for_code(status_code, direction)
        if status_code == "429":
            headers["Retry-After"] = {
                "schema": {"type": "integer"},
                "description": "Seconds to wait before the next request.",
            }
        if status_code == "200" and self.method == "GET":
            headers["ETag"] = {
                "schema": {"type": "string"},
                "description": "Send it back as `If-None-Match` to get 304 Not Modified while nothing changed.",
            }
        return headers

    def _error_codes(self) -> list[str]:
        codes = ["400"]
        if not self._is_public():
            codes += ["401", "403"]
        if "{" in self.path:
            codes.append("404")
        if self._is_idempotent():
            codes.append("422")
        if self.method != "GET" and any(issubclass(t, _ScopedThrottle) for t in self._throttle_classes()):
            codes.append("429")
        if self.method in ("POST", "PUT", "PATCH"):
            codes.append("413")
        codes += ["503", "default"]
        return codes

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if self._is_idempotent():
            parameters += [IDEMPOTENCY_PARAMETER, REPLAYED_RESPONSE_HEADER]
        return parameters

    def _is_idempotent(self) -> bool:
        handler = getattr(self.view, self.method.lower(), None)
        return bool(getattr(handler, "idempotent", False))

    def _throttle_classes(self) -> list[type]:
        return list(getattr(self.view, "throttle_classes", []) or [])

    def _is_public(self) -> bool:
        return any(
            permission is AllowAny or (isinstance(permission, type) and issubclass(permission, AllowAny))
            for permission in getattr(self.view, "permission_classes", [])
        )


def _error_response(code: str) -> OpenApiResponse:
    error_code, message, fields = ERROR_EXAMPLES[code]
    return OpenApiResponse(
        ErrorSerializer,
        description=ERROR_DESCRIPTIONS[code],
        examples=[
            OpenApiExample(
                error_code,
                value={"error": {"code": error_code, "message": message, "fields": fields}},
                response_only=True,
                status_codes=[code],
            )
        ],
    )


def add_guide(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: the integrator's guide (apps/api/guide.md) as the schema's description."""
    result.setdefault("info", {})["description"] = GUIDE.read_text(encoding="utf-8")
    return result
