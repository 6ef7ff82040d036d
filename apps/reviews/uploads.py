"""Reviews to label, uploaded from the browser or the API: CSV, JSON Lines or plain text, all or nothing.

The upload is checked whole before anything is written: its size, its encoding (UTF-8), its layout
and every review. A file that fails any check imports nothing and the message names the line and the
problem. A good file is rewritten as JSON Lines and imported by the platform's own importer
(``apps.reviews.services.review_import``), so an upload is an ``ImportJob`` like any other import:
idempotent (a review already present is not added twice) and in one transaction. Its reviews can then
make a queue's pool (``import``).

Formats (the file's extension picks one unless the caller names it):

- **CSV** (``.csv``): a header line with a ``review`` or ``text`` column; optional ``id`` and
  ``sentiment`` or ``label`` columns (a label given becomes the review's gold label).
- **JSON Lines** (``.jsonl``, ``.ndjson``): one object per line with ``text``; optional ``id``,
  ``label`` and ``rating``.
- **Plain text** (``.txt``): one review per line; blank lines are ignored.

Reviews without an id are named by the sha256 of their text, so uploading the same text twice adds it once.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from django.conf import settings

from apps.reviews.importers import ReviewImportError
from apps.reviews.importers.rows import checked_external_id, checked_label, checked_rating, checked_text
from apps.reviews.services import ImportResult, review_import

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.core.files.uploadedfile import UploadedFile

FORMATS = {"csv": "CSV", "jsonl": "JSON Lines", "txt": "plain text"}
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "txt"}
MAX_REVIEW_CHARS = 100_000
MAX_SOURCE_NAME_LENGTH = 64
CSV_TEXT_COLUMNS = ("review", "text")
CSV_LABEL_COLUMNS = ("sentiment", "label")


class UploadError(ValueError):
    """An upload that imports nothing; the message says what was wrong and what to do."""


class UploadRow(NamedTuple):
    external_id: str | None
    text: str
    label: int | None
    rating: int | None


def upload_max_bytes() -> int:
    return int(settings.IMPORT_MAX_UPLOAD_BYTES)


def upload_format(*, filename: str, declared: str | None = None) -> str:
    """The upload's format: the one declared, else the one its extension names."""
    if declared:
        declared = declared.strip().lower()
        if declared not in FORMATS:
            raise UploadError(f"Unknown format {declared!r}: choose one of {', '.join(FORMATS)}.")
        return declared
    suffix = PurePath(filename).suffix.lower()
    if suffix not in EXTENSIONS:
        raise UploadError(
            f"Cannot tell the format of {filename!r} from its extension: name the file .csv, .jsonl or .txt, "
            "or choose the format."
        )
    return EXTENSIONS[suffix]


def review_upload(
    *,
    file: UploadedFile,
    file_format: str | None = None,
    source_name: str | None = None,
    created_by: User | None = None,
) -> ImportResult:
    """Check the uploaded file whole, then import its reviews; raises ``UploadError`` with nothing imported."""
    filename = PurePath(file.name or "upload").name
    limit = upload_max_bytes()
    if file.size is not None and file.size > limit:
        raise UploadError(
            f"{filename} is {_megabytes(file.size)}; the largest upload is {_megabytes(limit)}. "
            "Split the file, or import it with python manage.py import_reviews."
        )
    fmt = upload_format(filename=filename, declared=file_format)
    name = _source_name(source_name, filename)
    with tempfile.TemporaryDirectory(prefix="labelling-upload-") as folder:
        normalised = Path(folder) / "reviews.jsonl"
        with normalised.open("w", encoding="utf-8") as out:
            count = 0
            for row in read_upload(file, file_format=fmt, filename=filename):
                out.write(json.dumps(_jsonl_record(row), ensure_ascii=False) + "\n")
                count += 1
        if count == 0:
            raise UploadError(f"{filename} holds no reviews. {_layout(fmt)}")
        from apps.reviews.models import ImportJob

        job = ImportJob.objects.create(source=f"upload: {filename}", source_name=name, created_by=created_by)
        try:
            return review_import(source=str(normalised), source_name=name, created_by=created_by, job=job)
        except ReviewImportError as error:
            raise UploadError(str(error).replace(str(normalised), filename)) from error


def read_upload(file: UploadedFile, *, file_format: str, filename: str) -> Iterator[UploadRow]:
    """The upload's reviews, checked; raises ``UploadError`` naming the line of the first bad one."""
    lines = _text_lines(file, filename)
    try:
        if file_format == "csv":
            yield from _csv_rows(lines, filename)
        elif file_format == "jsonl":
            yield from _jsonl_rows(lines, filename)
        else:
            yield from _text_rows(lines, filename)
    except ReviewImportError as error:
        raise UploadError(str(error)) from None


def _text_lines(file: UploadedFile, filename: str) -> Iterator[str]:
    file.seek(0)
    handle: IO[bytes] = file
    for number, raw in enumerate(handle, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UploadError(
                f"{filename}, line {number}: not valid UTF-8 (byte 0x{raw[error.start]:02x} at column {error.start + 1}). "
                "Save the file as UTF-8 and upload it again; nothing was imported."
            ) from None
        yield line.removeprefix("\ufeff") if number == 1 else line


def _checked_row(*, external_id: Any, text: Any, label: Any, rating: Any, where: str) -> UploadRow:
    text = checked_text(text, where=where)
    if len(text) > MAX_REVIEW_CHARS:
        raise UploadError(f"{where}: the review is {len(text):,} characters long; the limit is {MAX_REVIEW_CHARS:,}.")
    if isinstance(label, str) and not label.strip():
        label = None
    return UploadRow(
        external_id=None if external_id is None else checked_external_id(external_id, where=where),
        text=text,
        label=checked_label(label, where=where, allow_unlabelled=True),
        rating=checked_rating(rating, where=where),
    )


def _csv_rows(lines: Iterator[str], filename: str) -> Iterator[UploadRow]:
    records = csv.reader(lines)
    header = _next_record(records, filename)
    if header is None:
        raise UploadError(f"{filename} is empty. {_layout('csv')}")
    columns = [name.strip().lower() for name in header]
    text_column = next((name for name in CSV_TEXT_COLUMNS if name in columns), None)
    if text_column is None:
        raise UploadError(
            f"{filename}, line 1: no 'review' or 'text' column (the header has: {', '.join(header)[:200]}). "
            + _layout("csv")
        )
    label_column = next((name for name in CSV_LABEL_COLUMNS if name in columns), None)
    text_at = columns.index(text_column)
    label_at = columns.index(label_column) if label_column else None
    id_at = columns.index("id") if "id" in columns else None
    last_line = records.line_num
    while (record := _next_record(records, filename)) is not None:
        first_line, last_line = last_line + 1, records.line_num
        if not record:
            continue
        where = f"{filename}, line {first_line}"
        if len(record) != len(header):
            raise UploadError(
                f"{where}: {len(record)} fields where the header has {len(header)}. "
                'Put reviews that contain commas or line breaks in double quotes ("...").'
            )
        yield _checked_row(
            external_id=record[id_at] if id_at is not None else None,
            text=record[text_at],
            label=record[label_at] if label_at is not None else None,
            rating=None,
            where=where,
        )


def _next_record(records: Any, filename: str) -> list[str] | None:
    try:
        return next(records)
    except StopIteration:
        return None
    except csv.Error as error:
        raise UploadError(f"{filename}, line {records.line_num}: not valid CSV ({error}).") from None


def _jsonl_rows(lines: Iterator[str], filename: str) -> Iterator[UploadRow]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{filename}, line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise UploadError(f"{where}: not valid JSON ({error.msg} at column {error.colno}).") from None
        except RecursionError:
            # json gives up past Python's recursion limit: such a line is no review, and must not crash the worker.
            raise UploadError(f"{where}: nested too deeply to be a review; each line is one flat object.") from None
        if not isinstance(record, dict):
            raise UploadError(f'{where}: expected an object like {{"text": "..."}}, found {type(record).__name__}.')
        if "text" not in record:
            raise UploadError(f"{where}: no 'text' (the object has: {', '.join(record)[:200] or 'nothing'}).")
        yield _checked_row(
            external_id=record.get("id"),
            text=record["text"],
            label=record.get("label"),
            rating=record.get("rating"),
            where=where,
        )


def _text_rows(lines: Iterator[str], filename: str) -> Iterator[UploadRow]:
    for number, line in enumerate(lines, start=1):
        if line.strip():
            where = f"{filename}, line {number}"
            yield _checked_row(external_id=None, text=line.strip(), label=None, rating=None, where=where)


def _jsonl_record(row: UploadRow) -> dict[str, Any]:
    record: dict[str, Any] = {"text": row.text, "label": row.label, "rating": row.rating}
    if row.external_id is not None:
        record["id"] = row.external_id
    return record


def _source_name(given: str | None, filename: str) -> str:
    name = (given or "").strip() or PurePath(filename).stem.strip() or "upload"
    if len(name) > MAX_SOURCE_NAME_LENGTH:
        if given:
            raise UploadError(f"The source name is at most {MAX_SOURCE_NAME_LENGTH} characters (got {len(name)}).")
        name = name[:MAX_SOURCE_NAME_LENGTH]
    return name


def _layout(file_format: str) -> str:
    return {
        "csv": "Expected a header line with a review (or text) column, optionally id and sentiment (or label), "
        "then one review per row.",
        "jsonl": 'Expected one JSON object per line, like {"text": "...", "label": "positive"}; label and id are optional.',
        "txt": "Expected one review per line.",
    }[file_format]


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
