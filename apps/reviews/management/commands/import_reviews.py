"""``python manage.py import_reviews [SOURCE]``: import reviews from the hub, a folder, a tarball or a file."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.reviews.importers import ReviewImportError
from apps.reviews.services import review_import


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

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["source"] or settings.IMDB_SOURCE
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
