"""Filters and tags the dashboard's templates share."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django import template
from django.http import HttpRequest

from apps.common import roles
from apps.reviews.choices import Label

register = template.Library()


@register.filter
def is_ml_admin(user: Any) -> bool:
    """Whether ``user`` may start, cancel and promote (the buttons are shown to ML admins only)."""
    return roles.is_ml_admin(user)


@register.filter
def label_name(value: int | None) -> str:
    """0 -> "negative", 1 -> "positive", None -> "—"."""
    if value is None or value == "":
        return "—"
    return str(Label(int(value)).label)


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """A fraction (0.9123) as a percentage ("91.2%"); "—" when there is none."""
    if value is None:
        return "—"
    return f"{100 * float(value):.{int(digits)}f}%"


@register.filter
def metric(value: float | None) -> str:
    """A metric to four places, "—" when there is none."""
    return "—" if value is None else f"{float(value):.4f}"


@register.filter
def duration(value: timedelta | float | None) -> str:
    """A timedelta or seconds as "1 h 04 min", "3 min 05 s" or "12 s"."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else float(value))
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


@register.simple_tag
def query_with(request: HttpRequest, **changes: Any) -> str:
    """The current query string with ``changes`` applied (a None value removes the key): for pagination links."""
    query = request.GET.copy()
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.filter
def setting(value: Any) -> str:
    """A hyperparameter as people write it: 3e-05 rather than 0.00003, "—" for none."""
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


_LINE_BREAKS = re.compile(r"(?:<br\s*/?>\s*)+", re.IGNORECASE)


@register.filter
def plain(text: str | None) -> str:
    """Review text with the ``<br />`` line breaks IMDb's texts carry turned into spaces (the rest is escaped as usual)."""
    return _LINE_BREAKS.sub(" ", text or "")


@register.filter
def paragraphs(text: str | None) -> str:
    """Review text with IMDb's ``<br />`` line breaks turned into newlines, for a ``white-space: pre-wrap`` block."""
    return _LINE_BREAKS.sub("\n\n", text or "")
