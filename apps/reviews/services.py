"""Writes and workflows for reviews: importing them, in the foreground or as a queued job."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import transaction

from apps.common.choices import JobStatus
from apps.reviews.importers import ReviewImportError
from apps.reviews.importers.rows import text_hash
from apps.reviews.imports import MAX_SOURCE_NAME_LENGTH, ImportRunner, checked_source_name
from apps.reviews.models import ImportJob, Review
from apps.reviews.signals import reviews_entered

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Called with (rows read so far, rows expected or None when the source cannot tell).
Progress = Callable[[int, int | None], None]


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
    created_by: User | None = None,
    progress: Progress | None = None,
    job: ImportJob | None = None,
) -> ImportResult:
    """Import every review from ``source`` in this process: all of them or, on any bad row, none.

    ``source`` is ``hf:NAME``, a parquet or aclImdb folder, an aclImdb tarball, or a CSV, JSONL or
    parquet file (see ``apps.reviews.importers``). Reviews are stored under ``source_name`` (default:
    "imdb" for IMDb layouts, the file name without extension for CSV and JSONL); a review whose
    ``(source_name, external_id)`` is already present is left as it is, so importing again adds nothing.

    ``job`` (a queued ImportJob) is created when not given. It runs as any import job does (heartbeat,
    cancel, staging then one swap); it ends succeeded with the counts, or failed with the error, in
    which case ReviewImportError is raised and no review has been written.
    """
    if job is None:
        job = ImportJob.objects.create(source=source, source_name=source_name or "", created_by=created_by)
    started = time.perf_counter()

    def on_progress(event: dict[str, Any]) -> None:
        if progress is not None and event.get("type") == "step":
            progress(int(event["step"]), event.get("total_steps"))

    options: dict[str, Any] = {"source": source} if source != job.source else {}
    finished = ImportRunner.handle(job.pk, on_progress=on_progress, source_name=source_name, **options)
    if finished is None:
        raise ReviewImportError(f"Import {job.pk} is not queued (it is {ImportJob.objects.get(pk=job.pk).status}).")
    if finished.status != JobStatus.SUCCEEDED:
        raise ReviewImportError(finished.error or f"Import {job.pk} was cancelled; nothing was imported.")
    return ImportResult(
        job=finished,
        source_name=finished.source_name,
        rows_read=finished.rows_read,
        rows_created=finished.rows_created,
        rows_existing=finished.rows_existing,
        seconds=time.perf_counter() - started,
    )


def import_job_enqueue(
    *, source: str, source_name: str | None = None, created_by: User | None = None
) -> ImportJob:
    """Queue an import of ``source`` for a worker on the ``default`` queue; the job shows how it went.

    Raises ``BrokerUnavailable`` (nothing written) when the broker cannot be reached.
    """
    return ImportRunner.submit(
        source=source, source_name=checked_source_name(source_name) if source_name else "", created_by=created_by
    )


def import_job_cancel(*, job: ImportJob, by: User | None = None) -> ImportJob:
    """Cancel an import: a queued one at once, a running one before its next chunk; nothing of it is kept.

    Raises ``IllegalTransition`` for an import that has already finished.
    """
    return ImportRunner.cancel(job.pk, by=by)


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
        if new:
            # The new reviews are announced as they are created (labelling enters them into its growing queues).
            reviews_entered.send(sender=Review, reviews=Review.objects.filter(source=source, external_id__in=list(new)))
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


def review_delete(*, review: Review, held_by: Iterable[Callable[[Review], str | None]] = ()) -> None:
    """Delete a review with its labels and predictions; refused (``ReviewInUse``) while a snapshot holds it.

    Snapshots are frozen: a model trained on one must always be traceable to exactly the reviews it saw.
    ``held_by`` are the checks of the apps above that keep reviews too (an evaluation file's, for one): each
    says why the review stays, or None; the first reason refuses the deletion.
    """
    from apps.reviews.models import SnapshotItem

    snapshots = sorted(set(SnapshotItem.objects.filter(review=review).values_list("snapshot_id", flat=True)))
    if snapshots:
        raise ReviewInUse(
            f"Review {review.pk} is in snapshot{'s' if len(snapshots) > 1 else ''} "
            f"{', '.join(str(pk) for pk in snapshots)}, which never change; it cannot be deleted."
        )
    for holder in held_by:
        reason = holder(review)
        if reason is not None:
            raise ReviewInUse(reason)
    review.delete()


def import_upload_enqueue(
    *, file: Any, source_name: str | None = None, created_by: User | None = None
) -> ImportJob:
    """Store an uploaded file in the upload storage and queue its import for a worker.

    ``file`` is an uploaded file (``name``, ``size``, ``chunks()``). Refused (``ReviewImportError``) when
    it is larger than IMPORT_MAX_UPLOAD_BYTES or not a kind of file the importers read. The storage is
    IMPORT_UPLOAD_DIR, a folder shared with the workers like ARTIFACT_ROOT, or object storage when
    ARTIFACT_STORAGE_URL is set (``apps.common.storage.upload_storage``).
    """
    from django.conf import settings

    from apps.common.storage import upload_storage

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
        source_name = checked_source_name(source_name)
    storage = upload_storage()
    key = f"{uuid.uuid4().hex}/{filename}"
    try:
        with storage.open_for_writing(key) as out:
            for chunk in file.chunks():
                out.write(chunk)
        return import_job_enqueue(source=storage.url_of(key), source_name=source_name, created_by=created_by)
    except BaseException:
        storage.remove(key.split("/")[0])  # nothing half-written or unqueued stays behind
        raise
