"""Template filters of the labelling pages."""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString

register = template.Library()

# IMDb reviews carry "<br /><br />" between paragraphs: those (and only those) become line breaks.
_LINE_BREAK_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)


@register.filter
def review_text(text: str) -> SafeString:
    """A review's text escaped for HTML, with its ``<br>`` tags as line breaks (shown by ``white-space: pre-wrap``).

    Everything else in the text, ``<script>`` and ``onerror=`` included, is shown as the characters it is.
    """
    return escape(_LINE_BREAK_TAG.sub("\n", text or ""))


@register.filter
def label_word(value: int | None) -> str:
    return {0: "negative", 1: "positive"}.get(value, "") if value is not None else ""


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}%"


@register.filter
def share(value: float | None, digits: int = 1) -> str:
    """A fraction (0.504) as a percentage (50.4%): two decimals of a probability near 0.5 all read 0.50."""
    return "–" if value is None else f"{100 * value:.{digits}f}%"
