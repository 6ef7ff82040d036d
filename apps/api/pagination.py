"""Cursor pagination for every list that can grow large (reviews, predictions, runs, jobs, deliveries).

A page is ``{"next": URL or null, "previous": URL or null, "results": [...]}``, newest first. Follow
``next`` until it is null. Cursors are opaque and stay valid while rows are added: a client paging
through 50,000 reviews never sees one twice or misses one, unlike with page numbers.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class ApiCursorPagination(CursorPagination):
    # Ids only grow, so "newest first" is "highest id first", and an id is a unique, fixed position.
    ordering = "-pk"
    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    cursor_query_description = (
        "The `next` or `previous` link of the page before holds it; leave it out for the first page."
    )
    page_size_query_description = f"Rows per page, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})."

    def decode_cursor(self, request: Request) -> Cursor | None:
        invalid = ValidationError(
            {"cursor": "Not a cursor this API gave out: follow the next or previous link of a page as it is."}
        )
        try:
            cursor = super().decode_cursor(request)
        except Exception:
            raise invalid from None
        if cursor is not None and cursor.position is not None and not str(cursor.position).isdigit():
            raise invalid
        return cursor

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}
        return parameters
