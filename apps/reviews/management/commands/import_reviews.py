"""``python manage.py import_reviews [SOURCE]``: import reviews from the hub, a folder, a tarball or a file."""

from __future__ import annotations

import sys
import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.common.broker import BrokerUnavailable
from apps.common.choices import JobStatus
from apps.reviews.importers import ReviewImportError
from apps.reviews.models import ImportJob
from apps.reviews.services import import_job_enqueue, review_import


class Command(BaseCommand):
    help = (
        "Import movie reviews, all or nothing; reviews already present are skipped. SOURCE is hf:imdb (the "
        "Hugging Face hub), a folder of train/test/unsupervised parquet files, an aclImdb folder or "
        "aclImdb_v1.tar.gz, a .csv file with review,sentiment columns, or a .jsonl file with text and label. "
        "Without SOURCE, IMDB_SOURCE is imported."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "source", nargs="?", help=f"What to import (default: IMDB_SOURCE, now {settings.IMDB_SOURCE})."
        )
        parser.add_argument(
            "--source-name",
            help="The name stored with each review, under which re-imports find them "
            "(default: imdb for IMDb layouts, the file name without extension for CSV and JSONL).",
        )
        parser.add_argument(
            "--background",
            action="store_true",
            help="Run the import on a Celery worker (queue 'default') and wait for it to finish.",
        )
        parser.add_argument(
            "--timeout", type=float, default=600.0, help="With --background: seconds to wait for the worker."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["source"] or settings.IMDB_SOURCE
        if options["background"]:
            self._import_on_worker(source=source, source_name=options["source_name"], timeout=options["timeout"])
            return
        bar = _ProgressBar(enabled=options["verbosity"] > 0)
        try:
            result = review_import(source=source, source_name=options["source_name"], progress=bar.update)
        except ReviewImportError as error:
            raise CommandError(f"{error}\nNothing was imported.") from None
        except KeyboardInterrupt:
            raise CommandError("Interrupted: nothing was imported.") from None
        finally:
            bar.close()
        if options["verbosity"] > 0:
            self.stdout.write(self.style.SUCCESS(result.summary))

    def _import_on_worker(self, *, source: str, source_name: str | None, timeout: float) -> None:
        try:
            job = import_job_enqueue(source=source, source_name=source_name)
        except BrokerUnavailable as error:
            raise CommandError(f"{error} Start the broker, or import in the foreground without --background.") from None
        self.stdout.write(f"Queued import {job.pk} on the 'default' queue; waiting for a worker to take it ...")
        started = time.monotonic()
        warned = False
        while job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            waited = time.monotonic() - started
            if job.status == JobStatus.QUEUED and waited > NO_WORKER_WARNING_SECONDS and not warned:
                warned = True
                self.stderr.write(_no_worker_message(job.pk, waited))
            if waited > timeout:
                what = _no_worker_message(job.pk, waited) if job.status == JobStatus.QUEUED else (
                    f"Import {job.pk} is still running on {job.worker} after {timeout:.0f} s; it goes on there "
                    f"(python manage.py cancel_import {job.pk} stops it)."
                )
                raise CommandError(what)
            time.sleep(0.5)
            job = ImportJob.objects.get(pk=job.pk)
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Import {job.pk} {job.status}: {job.error}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Import {job.pk} succeeded on {job.worker}: {job.rows_created} new, "
                f"{job.rows_existing} already present."
            )
        )


class _ProgressBar:
    """A tqdm bar on stderr, opened on the first update, when the number of rows to expect is known."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: tqdm[Any] | None = None

    def update(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = tqdm(total=total, unit=" reviews", file=sys.stderr, desc="Importing")
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# A queued import that no worker has taken after this long probably has no worker to go to.
NO_WORKER_WARNING_SECONDS = 15.0


def _no_worker_message(job_id: int, waited: float) -> str:
    return (
        f"Import {job_id} is still queued after {waited:.0f} s: no worker has taken it. Is one running for the "
        "'default' queue (celery -A sentimentsite worker -Q default, or make run)? The import stays queued and "
        f"runs when a worker starts; python manage.py cancel_import {job_id} withdraws it."
    )
