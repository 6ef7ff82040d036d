"""The error envelope every JSON error of the site is written in, the REST API's and the middleware's alike.

``{"error": {"code": ..., "message": ..., "fields": {...}}}``: ``code`` is a stable word a program can
branch on, ``message`` a sentence for a person, ``fields`` one message per input that was wrong.
"""

from __future__ import annotations

from typing import Any


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}
