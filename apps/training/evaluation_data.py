"""Labelled files uploaded to evaluate models on: checked whole, stored as their own source, all or nothing.

A file is CSV (a ``review`` or ``text`` column and a ``sentiment`` or ``label`` column, optionally ``id``)
or JSON Lines (``text`` and ``label``, optionally ``id`` and ``rating``), read by the same checks as the
labelling uploads (``apps.reviews.uploads``), under the same size cap (``IMPORT_MAX_UPLOAD_BYTES``).
Every review must carry a label.

Its reviews are stored as ``Review`` rows under a source of their own (``eval-<file name>`` unless named),
the way an import stores its reviews under its source name, but with no gold label: the labels are the
dataset's items. So a snapshot of the gold labels, what models train on, never takes them in; someone who
wants to train on them imports the file as ordinary reviews instead. Uploading the same file again to the
same source reuses its reviews.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction

from apps.reviews.uploads import (
    UploadError,
    read_upload,
    upload_format,
    upload_max_bytes,
)
from apps.reviews.importers.rows import text_hash
from apps.reviews.models import Review
from apps.training.models import EvaluationDataset, EvaluationDatasetItem

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SOURCE_PREFIX = "eval-"
MAX_SOURCE_NAME_LENGTH = 64
MAX_NAME_LENGTH = 200
LOOKUP_BATCH = 5_000
LAYOUT = (
    "Expected CSV with a header naming a review (or text) column and a sentiment (or label) column, optionally id; "
    'or JSON Lines, one object per line like {"text": "...", "label": "positive"}, optionally with id and rating.'
)


class EvaluationDataError(ValueError):
    """An evaluation file that was not stored; the message says what was wrong and what to do."""


@dataclass(frozen=True)
class EvaluationFile:
    """An evaluation file read and checked: its distinct reviews as (external id, row), in file order."""

    filename: str
    source_name: str
    rows: list[tuple[str, Any]]


def evaluation_dataset_create(
    *,
    file: Any,
    name: str | None = None,
    source_name: str | None = None,
    created_by: User | None = None,
) -> EvaluationDataset:
    """Check the uploaded labelled ``file`` whole and store it as an evaluation dataset, or raise with nothing stored.

    ``file`` is an uploaded file (``name``, ``size``, iterable over its lines as bytes). Raises
    ``EvaluationDataError`` for a file too large, of another kind, not UTF-8, badly laid out, with a review
    without a label, the same review twice with two labels, or a source name that imported reviews use.
    """
    return evaluation_dataset_store(
        read_evaluation_file(file, source_name=source_name), name=name, created_by=created_by
    )


def read_evaluation_file(file: Any, *, source_name: str | None = None) -> EvaluationFile:
    """Read and check an evaluation file without storing anything; raises ``EvaluationDataError``."""
    filename = PurePath(str(file.name or "upload")).name
    limit = upload_max_bytes()
    if file.size is not None and file.size > limit:
        raise EvaluationDataError(
            f"{filename} is {file.size / 1_000_000:.1f} MB; the largest evaluation file is {limit / 1_000_000:.1f} MB. "
            "Evaluate on a sample of it, or import it and evaluate on the import."
        )
    try:
        file_format = upload_format(filename=filename)
        if file_format not in ("csv", "jsonl"):
            raise UploadError(f"{filename} is plain text, which has no labels. {LAYOUT}")
        rows = list(read_upload(file, file_format=file_format, filename=filename))
    except UploadError as error:
        raise EvaluationDataError(str(error).replace("nothing was imported", "nothing was stored")) from None
    if not rows:
        raise EvaluationDataError(f"{filename} holds no reviews. {LAYOUT}")
    source = _source_name(source_name, filename)
    _check_source_is_free(source)
    return EvaluationFile(filename=filename, source_name=source, rows=_keyed_rows(rows, filename))


def evaluation_dataset_store(
    data: EvaluationFile, *, name: str | None = None, created_by: User | None = None
) -> EvaluationDataset:
    """Store a checked file's reviews and labels in one transaction."""
    name = (name or "").strip() or data.filename
    if len(name) > MAX_NAME_LENGTH:
        raise EvaluationDataError(f"The name is {len(name)} characters long; keep it to {MAX_NAME_LENGTH} or fewer.")
    keyed = data.rows
    with transaction.atomic():
        _lock_source(data.source_name)
        _check_source_is_free(data.source_name)
        review_ids = _store_reviews(keyed, data.source_name)
        dataset = EvaluationDataset.objects.create(
            name=name,
            filename=data.filename,
            source_name=data.source_name,
            review_count=len(keyed),
            positive_count=sum(row.label == 1 for _, row in keyed),
            negative_count=sum(row.label == 0 for _, row in keyed),
            created_by=created_by,
        )
        EvaluationDatasetItem.objects.bulk_create(
            (
                EvaluationDatasetItem(dataset=dataset, review_id=review_ids[key], label=row.label, position=position)
                for position, (key, row) in enumerate(keyed)
            ),
            batch_size=LOOKUP_BATCH,
        )
    return dataset


def _lock_source(source: str) -> None:
    """Two uploads to one source take turns (a double-clicked upload): the second reuses the first's reviews."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('evaluation source'), hashtext(%s))", [source])


def _check_source_is_free(source: str) -> None:
    if Review.objects.filter(source=source).exists() and not EvaluationDataset.objects.filter(source_name=source).exists():
        raise EvaluationDataError(
            f"The source {source!r} holds reviews that were imported, not uploaded for evaluation; an evaluation "
            "file keeps a source of its own so that it never mixes with training data. Choose another source name."
        )


def _keyed_rows(rows: list[Any], filename: str) -> list[tuple[str, Any]]:
    """(external id, row) per distinct review, in file order; a review repeated with the same label counts once."""
    seen: dict[str, tuple[int, int, str]] = {}
    keyed = []
    for number, row in enumerate(rows, start=1):
        if row.label is None:
            raise EvaluationDataError(
                f"{filename}, review {number:,}: no label. Every review of an evaluation file needs one: "
                "positive or negative (1 or 0). Nothing was stored."
            )
        key = row.external_id or text_hash(row.text)
        if key in seen:
            first, label, text = seen[key]
            if label != row.label:
                raise EvaluationDataError(
                    f"{filename}, review {number:,} repeats review {first:,} "
                    f"({'id ' + key if row.external_id else 'the same text'}) with the other label; keep one of them."
                )
            if text != row.text:
                # Two different reviews under one id: keeping the first would drop the other without a word.
                raise EvaluationDataError(
                    f"{filename}, review {number:,} has the id {key} of review {first:,} but another text; "
                    "give each review its own id. Nothing was stored."
                )
            continue
        seen[key] = (number, row.label, row.text)
        keyed.append((key, row))
    return keyed


def _source_name(given: str | None, filename: str) -> str:
    source = (given or "").strip() or f"{SOURCE_PREFIX}{PurePath(filename).stem.strip() or 'upload'}"[:MAX_SOURCE_NAME_LENGTH]
    if len(source) > MAX_SOURCE_NAME_LENGTH:
        raise EvaluationDataError(f"The source name is at most {MAX_SOURCE_NAME_LENGTH} characters (got {len(source)}).")
    return source


def _store_reviews(keyed: list[tuple[str, Any]], source: str) -> dict[str, int]:
    """Review ids by external id: those already stored under ``source`` (same text), the rest created."""
    keys = [key for key, _ in keyed]
    stored: dict[str, tuple[int, str]] = {}
    for start in range(0, len(keys), LOOKUP_BATCH):
        chunk = keys[start : start + LOOKUP_BATCH]
        for pk, external_id, text in Review.objects.filter(source=source, external_id__in=chunk).values_list(
            "id", "external_id", "text"
        ):
            stored[external_id] = (pk, text)
    for key, row in keyed:
        if key in stored and stored[key][1] != row.text:
            raise EvaluationDataError(
                f"Review id {key} is already stored under source {source!r} with another text. Give the file "
                "another source name, or fix its ids. Nothing was stored."
            )
    Review.objects.bulk_create(
        (
            Review(text=row.text, source=source, external_id=key, rating=row.rating)
            for key, row in keyed
            if key not in stored
        ),
        batch_size=LOOKUP_BATCH,
    )
    ids: dict[str, int] = {}
    for start in range(0, len(keys), LOOKUP_BATCH):
        chunk = keys[start : start + LOOKUP_BATCH]
        ids.update(Review.objects.filter(source=source, external_id__in=chunk).values_list("external_id", "id"))
    return ids
