"""Readers that turn each kind of review source into the same normalised rows.

``open_source(location)`` picks the reader; ``reader.rows()`` yields ``ReviewRow``s and stops with a
``ReviewImportError`` that names the file, the line or row, and the problem at the first bad one.
"""

from __future__ import annotations

from apps.reviews.importers.rows import ReviewImportError, ReviewReader, ReviewRow
from apps.reviews.importers.sources import open_source

__all__ = ["ReviewImportError", "ReviewReader", "ReviewRow", "open_source"]
