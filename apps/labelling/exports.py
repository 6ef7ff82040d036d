"""Labels out: one row per annotation, with the annotator, the time and the review's resolution, as CSV or JSON Lines.

Columns, in order: ``review_id``, ``source``, ``external_id``, ``text``, ``label`` (positive/negative),
``annotator``, ``labelled_at`` (ISO 8601, UTC), ``queue``, ``gold_label``, ``resolution`` (the
review's resolved label, empty while unresolved), ``resolution_method`` (gold, unanimous, majority,
settled), ``resolution_reason``, ``settled_by``, ``resolved_at``. Rows come in review id order, then
in the order the labels were given. The files are streamed, so exporting every label costs little memory.

In the CSV file a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (a review's
text, a queue's name, a user name) gets a leading ``'``: a spreadsheet would otherwise run it as a formula
(``=HYPERLINK(...)``, ``+cmd|...``). The JSON Lines file keeps every value as it is.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from apps.labelling.models import Annotation, LabellingQueue
from apps.reviews.choices import Label

EXPORT_FORMATS = ("csv", "jsonl")
COLUMNS = (
    "review_id",
    "source",
    "external_id",
    "text",
    "label",
    "annotator",
    "labelled_at",
    "queue",
    "gold_label",
    "resolution",
    "resolution_method",
    "resolution_reason",
    "settled_by",
    "resolved_at",
)
_FIELDS = (
    "review_id",
    "review__source",
    "review__external_id",
    "review__text",
    "label",
    "user__username",
    "created_at",
    "queue__name",
    "review__gold_label",
    "review__resolution__label",
    "review__resolution__method",
    "review__resolution__reason",
    "review__resolution__settled_by__username",
    "review__resolution__updated_at",
)
_LABEL_COLUMNS = {"label", "gold_label", "resolution"}
_TIME_COLUMNS = {"labelled_at", "resolved_at"}
# What a spreadsheet reads as the start of a formula (OWASP's list for CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_rows(*, queue: LabellingQueue | None = None) -> Iterator[dict[str, Any]]:
    """Every annotation (in ``queue``, when given) as a dict of ``COLUMNS``."""
    annotations = Annotation.objects.all() if queue is None else Annotation.objects.filter(queue=queue)
    rows = annotations.order_by("review_id", "created_at", "pk").values_list(*_FIELDS)
    for values in rows.iterator(chunk_size=2_000):
        record = dict(zip(COLUMNS, values, strict=True))
        for column in _LABEL_COLUMNS:
            if record[column] is not None:
                record[column] = Label(record[column]).label
        for column in _TIME_COLUMNS:
            if record[column] is not None:
                record[column] = _iso(record[column])
        yield record


def export_lines(rows: Iterator[dict[str, Any]], *, file_format: str) -> Iterator[str]:
    """The rows as the lines of a CSV file (with a header) or a JSON Lines file."""
    if file_format == "jsonl":
        for row in rows:
            yield json.dumps(row, ensure_ascii=False) + "\n"
        return
    if file_format != "csv":
        raise ValueError(f"Unknown export format {file_format!r}: use csv or jsonl.")
    buffer = _LineBuffer()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield buffer.take()
    for row in rows:
        writer.writerow([_cell(row[column]) for column in COLUMNS])
        yield buffer.take()


def _cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def export_filename(*, file_format: str, queue: LabellingQueue | None = None) -> str:
    scope = f"queue-{queue.pk}" if queue is not None else "all"
    return f"labels-{scope}-{datetime.now(UTC):%Y%m%d-%H%M%S}.{file_format}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class _LineBuffer:
    """A write-only file for ``csv.writer`` whose text is taken row by row."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text
