"""The base every endpoint builds on: roles per method, cursor pages, 404s that name what is missing."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from django.db.models import Model, QuerySet
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import BasePagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from apps.api.errors import ApiError
from apps.api.pagination import ApiCursorPagination
from apps.api.permissions import Capability, HasCapability

ModelT = TypeVar("ModelT", bound=Model)


class ApiView(GenericAPIView):
    """An endpoint: ``required`` maps each HTTP method to the capability it needs (see apps.api.permissions).

    (ETags and 304 answers for every GET come from apps.api.middleware.)
    """

    permission_classes = [IsAuthenticated, HasCapability]
    required: ClassVar[dict[str, Capability]] = {}
    pagination_class: type[BasePagination] | None = None

    def page(self, queryset: QuerySet[Any], serializer_class: type[BaseSerializer], **context: Any) -> Response:
        """One cursor page of ``queryset``, newest first, each row through ``serializer_class``."""
        paginator = self.paginator or ApiCursorPagination()
        rows = paginator.paginate_queryset(queryset, self.request, view=self)
        data = serializer_class(rows, many=True, context={"request": self.request, **context}).data
        return paginator.get_paginated_response(data)


class ApiListView(ApiView):
    """An endpoint whose GET answers cursor pages."""

    pagination_class = ApiCursorPagination


def get_or_404(queryset: QuerySet[ModelT], pk: int, what: str) -> ModelT:
    """The row ``pk`` of ``queryset``, or a 404 that says which kind of thing was not found."""
    row = queryset.filter(pk=pk).first()
    if row is None:
        raise ApiError(404, "not_found", f"There is no {what} {pk}.")
    return row


def created(data: Any, location: str, *, http_status: int = 201) -> Response:
    """201 (or 202 for queued work) with the new resource's address in ``Location``."""
    return Response(data, status=http_status, headers={"Location": location})

