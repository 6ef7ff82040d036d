"""Writes and workflows for reviews: importing them, in the foreground or as a queued job."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.utils import timezone

from apps.reviews.importers import ReviewImportError, ReviewReader, ReviewRow, open_source
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
