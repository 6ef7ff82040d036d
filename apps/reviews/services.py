"""Writes and workflows for reviews: importing them, in the foreground or as a queued job."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone

from apps.reviews.importers import ReviewImportError, ReviewReader, ReviewRow, open_source
from apps.reviews.importers.rows import text_hash
from apps.reviews.models import ImportJob, Review

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

# Called with (rows read so far, rows expected or None when the source cannot tell).
Progress = Callable[[int, int | None], None]

# Rows looked up and inserted per round trip: large enough that 100,000 reviews take a few dozen
# statements, small enough that a batch of long reviews stays a few megabytes.
WRITE_BATCH_ROWS = 5_000
MAX_SOURCE_NAME_LENGTH: int = Review._meta.get_field("source").max_length  # type: ignore[assignment]
# Imports are light work: the CPU workers' queue, never the GPU one.
IMPORT_QUEUE = "default"


@dataclass(frozen=True)
class ImportResult:
    job: ImportJob
    source_name: str
    rows_read: int
    rows_created: int
    rows_existing: int
    seconds: float

    @property
    def summary(self) -> str:
        return (
            f"Read {self.rows_read} reviews from {self.job.source} in {self.seconds:.1f}s as source "
            f"'{self.source_name}': {self.rows_created} new, {self.rows_existing} already present."
        )


def review_import(
    *,
    source: str,
    source_name: str | None = None,
    created_by: AbstractBaseUser | None = None,
    progress: Progress | None = None,
    job: ImportJob | None = None,
) -> ImportResult:
    """Import every review from ``source`` in one transaction: all of them or, on any bad row, none.

    ``source`` is ``hf:NAME``, a parquet or aclImdb folder, an aclImdb tarball, or a CSV, JSONL or
    parquet file (see ``apps.reviews.importers``). Reviews are stored under ``source_name`` (default:
    "imdb" for IMDb layouts, the file name without extension for CSV and JSONL); a review whose
    ``(source_name, external_id)`` is already present is left as it is, so importing again adds nothing.

    ``job`` (a queued ImportJob) is created when not given. It ends succeeded with the counts, or
    failed with the error, in which case ReviewImportError is raised and no review has been written.
    """
    if job is None:
        job = ImportJob.objects.create(source=source, source_name=source_name or "", created_by=created_by)
    job.mark_running()
    started = time.perf_counter()
    rows_read = 0
    try:
        reader = open_source(source)
        job.source_name = _checked_source_name(source_name or job.source_name or reader.default_source_name)
        total = reader.total()
        with transaction.atomic():
            for rows_read in _write_reviews(reader.rows(), source_name=job.source_name, job=job):
                if progress is not None:
                    progress(rows_read, total)
            if rows_read == 0:
                raise ReviewImportError(_nothing_found_message(reader))
            rows_created = Review.objects.filter(import_job=job).count()
    except ReviewImportError as error:
        _record_failure(job, message=str(error), rows_read=rows_read)
        raise
    except KeyboardInterrupt:
        _record_failure(job, message="The import was interrupted; nothing was imported.", rows_read=rows_read)
        raise
    except Exception as error:
        _record_failure(job, message=f"The import stopped on an unexpected error: {error!r}", rows_read=rows_read)
        raise
    result = ImportResult(
        job=job,
        source_name=job.source_name,
        rows_read=rows_read,
        rows_created=rows_created,
        rows_existing=rows_read - rows_created,
        seconds=time.perf_counter() - started,
    )
    job.rows_read, job.rows_created, job.rows_existing = result.rows_read, result.rows_created, result.rows_existing
    job.append_log(result.summary + "\n")
    job.mark_succeeded()
    return result


def import_job_enqueue(
    *, source: str, source_name: str | None = None, created_by: AbstractBaseUser | None = None
) -> ImportJob:
    """Queue an import of ``source`` for a worker on the ``default`` queue; the job shows how it went."""
    from workers.tasks.imports import run_import_job

    job = ImportJob.objects.create(
        source=source,
        source_name=_checked_source_name(source_name) if source_name else "",
        created_by=created_by,
        celery_task_id=str(uuid.uuid4()),
    )
    transaction.on_commit(
        lambda: run_import_job.apply_async(args=[job.pk], task_id=job.celery_task_id, queue=IMPORT_QUEUE)
    )
    return job


def _write_reviews(rows: Iterable[ReviewRow], *, source_name: str, job: ImportJob) -> Iterator[int]:
    """Insert the rows not yet present, batch by batch; yields the number of rows read after each batch.

    The ids already present are read once up front, so a repeated import sends no review text to the
    database. Inserts still skip conflicts, in case another import commits the same reviews meanwhile.
    New reviews point at ``job``, which is how the caller counts them exactly.
    """
    present = set(
        Review.objects.filter(source=source_name).values_list("external_id", flat=True).iterator(chunk_size=20_000)
    )
    insert = _PostgresCopyInserter() if _can_copy() else _bulk_create
    pending = iter(rows)
    rows_read = 0
    while batch := list(islice(pending, WRITE_BATCH_ROWS)):
        rows_read += len(batch)
        new_rows = []
        for row in batch:
            if row.external_id in present:
                continue
            # A later row with the same id (the same text twice in a CSV) counts as already present.
            present.add(row.external_id)
            new_rows.append(row)
        if new_rows:
            insert(new_rows, source_name=source_name, job=job)
        yield rows_read
    if isinstance(insert, _PostgresCopyInserter):
        insert.close()


def _bulk_create(rows: list[ReviewRow], *, source_name: str, job: ImportJob) -> None:
    Review.objects.bulk_create(
        [
            Review(
                text=row.text,
                source=source_name,
                external_id=row.external_id,
                gold_label=row.gold_label,
                rating=row.rating,
                origin_split=row.origin_split,
                import_job=job,
            )
            for row in rows
        ],
        ignore_conflicts=True,
    )


def _can_copy() -> bool:
    if connection.vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return is_psycopg3


class _PostgresCopyInserter:
    """Inserts through COPY into a temporary table, then INSERT ... ON CONFLICT DO NOTHING.

    COPY streams rows without building a statement per batch: about three times as fast as
    bulk_create on PostgreSQL, which keeps 100,000 reviews well inside a minute. COPY alone cannot skip
    conflicts, hence the temporary table.
    """

    staging = "review_import_staging"

    def __init__(self) -> None:
        meta = Review._meta
        quote = connection.ops.quote_name
        names = ["text", "source", "external_id", "gold_label", "rating", "origin_split", "import_job", "created_at"]
        columns = ", ".join(quote(meta.get_field(name).column) for name in names)
        unique = ", ".join(quote(meta.get_field(name).column) for name in ("source", "external_id"))
        self.copy_sql = f"COPY {self.staging} ({columns}) FROM STDIN"
        self.insert_sql = (
            f"INSERT INTO {quote(meta.db_table)} ({columns}) SELECT {columns} FROM {self.staging} "
            f"ON CONFLICT ({unique}) DO NOTHING"
        )
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.staging}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {self.staging} AS SELECT {columns} FROM {quote(meta.db_table)} WITH NO DATA"
            )

    def __call__(self, rows: list[ReviewRow], *, source_name: str, job: ImportJob) -> None:
        now = timezone.now()
        with connection.cursor() as cursor:
            with cursor.copy(self.copy_sql) as copy:
                for row in rows:
                    copy.write_row(
                        (
                            row.text,
                            source_name,
                            row.external_id,
                            row.gold_label,
                            row.rating,
                            row.origin_split,
                            job.pk,
                            now,
                        )
                    )
            cursor.execute(self.insert_sql)
            cursor.execute(f"TRUNCATE {self.staging}")

    def close(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {self.staging}")


def _checked_source_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_SOURCE_NAME_LENGTH:
        raise ReviewImportError(
            f"The source name {name!r} must be 1 to {MAX_SOURCE_NAME_LENGTH} characters; choose one with --source-name."
        )
    return name


def _nothing_found_message(reader: ReviewReader) -> str:
    return f"{reader.location}: found no reviews in this {reader.kind}. Expected {reader.layout}."


def _record_failure(job: ImportJob, *, message: str, rows_read: int) -> None:
    """Mark the job failed; it runs after the import's transaction rolled back, so the mark stays."""
    job.rows_read, job.rows_created, job.rows_existing = rows_read, 0, 0
    job.append_log(message + "\n")
    job.mark_failed(message)


# --- Reviews sent one by one or in bulk (the REST API), uploads queued for a worker -----------------------

# Most reviews in one bulk request: a thousand reviews of IMDb length are a few megabytes.
BULK_MAX_REVIEWS = 1_000
API_SOURCE = "api"
MAX_REVIEW_TEXT_CHARS = 100_000
# What an uploaded file may be: the importers' file kinds.
UPLOAD_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet", ".tar.gz", ".tgz")


class ReviewInputError(ValueError):
    """Reviews that cannot be created; ``errors`` maps each problem's place (``reviews[2].text``) to a message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(f"{field}: {message}" for field, message in self.errors.items()))


class ReviewInUse(ValueError):
    """A review that cannot be deleted because a snapshot holds it; the message names the snapshots."""


@dataclass(frozen=True)
class NewReview:
    text: str
    external_id: str | None = None
    gold_label: int | None = None
    rating: int | None = None


@dataclass(frozen=True)
class CreatedReview:
    review: Review
    created: bool


def review_create_many(
    *, reviews: list[NewReview], source: str = API_SOURCE, field: str = "reviews"
) -> list[CreatedReview]:
    """Create ``reviews`` under ``source``, all or nothing; one result per review, in order.

    A review is identified by ``(source, external_id)``; without an external id, by the sha256 of its
    text (as the file importers do), so sending the same review again creates nothing and answers with
    the review already stored (``created=False``). Raises ``ReviewInputError`` naming each bad review
    (``reviews[3].text``) when any is empty, too long or has a bad label or rating; nothing is written then.
    """
    errors: dict[str, str] = {}
    if not reviews:
        errors[field] = "Send at least one review."
    elif len(reviews) > BULK_MAX_REVIEWS:
        errors[field] = f"Send at most {BULK_MAX_REVIEWS:,} reviews per request (got {len(reviews):,}); split them up."
    source = source.strip()
    if not source or len(source) > MAX_SOURCE_NAME_LENGTH:
        errors["source"] = f"The source is 1 to {MAX_SOURCE_NAME_LENGTH} characters, e.g. 'api' or 'crm'."
    for index, review in enumerate(reviews if not errors else []):
        errors.update(_new_review_errors(review, place=f"{field}[{index}]"))
    if errors:
        raise ReviewInputError(errors)
    keyed = [(review.external_id.strip() if review.external_id else text_hash(review.text), review) for review in reviews]
    with transaction.atomic():
        ids = [external_id for external_id, _ in keyed]
        present = set(Review.objects.filter(source=source, external_id__in=ids).values_list("external_id", flat=True))
        new: dict[str, Review] = {}
        for external_id, review in keyed:
            if external_id not in present and external_id not in new:
                new[external_id] = Review(
                    text=review.text,
                    source=source,
                    external_id=external_id,
                    gold_label=review.gold_label,
                    rating=review.rating,
                )
        # A review another request stored meanwhile is skipped, not an error: it is read back below.
        Review.objects.bulk_create(new.values(), ignore_conflicts=True)
        stored = {review.external_id: review for review in Review.objects.filter(source=source, external_id__in=ids)}
    results = []
    for external_id, _ in keyed:
        # The same review twice in one request is created once: the first time.
        results.append(CreatedReview(review=stored[external_id], created=external_id not in present))
        present.add(external_id)
    return results


def _new_review_errors(review: NewReview, *, place: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not review.text.strip():
        errors[f"{place}.text"] = "The review is empty: send its text."
    elif len(review.text) > MAX_REVIEW_TEXT_CHARS:
        errors[f"{place}.text"] = f"The review is {len(review.text):,} characters long; the limit is {MAX_REVIEW_TEXT_CHARS:,}."
    elif "\x00" in review.text:
        errors[f"{place}.text"] = "The review contains a NUL character (\\x00); remove it."
    if review.external_id is not None:
        external_id = review.external_id.strip()
        if not external_id or len(external_id) > 255 or "\x00" in external_id:
            errors[f"{place}.external_id"] = "The external id is 1 to 255 characters, or left out to use the text's hash."
    if review.gold_label not in (None, 0, 1):
        errors[f"{place}.gold_label"] = "The gold label is negative (0), positive (1) or null."
    if review.rating is not None and not 1 <= review.rating <= 10:
        errors[f"{place}.rating"] = "The rating is a whole number from 1 to 10, or null."
    return errors


def review_delete(*, review: Review) -> None:
    """Delete a review with its labels and predictions; refused (``ReviewInUse``) while a snapshot holds it.

    Snapshots are frozen: a model trained on one must always be traceable to exactly the reviews it saw.
    """
    from apps.reviews.models import SnapshotItem

    snapshots = sorted(set(SnapshotItem.objects.filter(review=review).values_list("snapshot_id", flat=True)))
    if snapshots:
        raise ReviewInUse(
            f"Review {review.pk} is in snapshot{'s' if len(snapshots) > 1 else ''} "
            f"{', '.join(str(pk) for pk in snapshots)}, which never change; it cannot be deleted."
        )
    review.delete()


def import_upload_enqueue(
    *, file: Any, source_name: str | None = None, created_by: AbstractBaseUser | None = None
) -> ImportJob:
    """Store an uploaded file under IMPORT_UPLOAD_DIR and queue its import for a worker.

    ``file`` is an uploaded file (``name``, ``size``, ``chunks()``). Refused (``ReviewImportError``) when
    it is larger than IMPORT_MAX_UPLOAD_BYTES or not a kind of file the importers read. The folder must be
    shared with the workers, like ARTIFACT_ROOT.
    """
    from django.conf import settings

    filename = Path(str(file.name or "")).name
    if not filename.lower().endswith(UPLOAD_SUFFIXES):
        raise ReviewImportError(
            f"{filename or 'The file'} is not a kind of file that can be imported: send a .csv (review,sentiment), "
            ".jsonl (text, label), .parquet or an aclImdb .tar.gz."
        )
    limit = int(settings.IMPORT_MAX_UPLOAD_BYTES)
    if file.size is not None and file.size > limit:
        raise ReviewImportError(
            f"{filename} is {file.size:,} bytes; the largest upload is {limit:,} bytes. Split the file, or import "
            "it with python manage.py import_reviews."
        )
    if source_name is not None:
        source_name = _checked_source_name(source_name)
    folder = Path(settings.IMPORT_UPLOAD_DIR) / uuid.uuid4().hex
    folder.mkdir(parents=True)
    path = folder / filename
    with path.open("wb") as out:
        for chunk in file.chunks():
            out.write(chunk)
    return import_job_enqueue(source=str(path), source_name=source_name, created_by=created_by)
