"""First-run setup for ``make run``: an admin account, IMDb when the database is empty, and a first model.

On a database with reviews but no snapshot and no run yet, it freezes the default snapshot and queues the
TF-IDF baseline on the ``default`` worker, so the prediction form can answer about a minute after the
first start (``make run`` turns AUTO_PROMOTE on, which makes that first model current when it succeeds).
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.registry.models import ModelVersion
from apps.reviews.models import DatasetSnapshot, Review
from apps.reviews.snapshots import SnapshotError, snapshot_create
from apps.training.models import TrainingRun
from apps.training.services import training_run_create

DEFAULT_SNAPSHOT_NAME = "default"


class Command(BaseCommand):
    help = (
        "Create an admin user if there is none, import IMDb from IMDB_SOURCE if there are no reviews, and on a "
        "platform with no snapshot and no run yet, make the default snapshot and queue the TF-IDF baseline."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--skip-import", action="store_true", help="Do not import IMDb even if empty.")
        parser.add_argument(
            "--skip-baseline", action="store_true", help="Make no default snapshot and queue no TF-IDF baseline."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        admin = self._ensure_admin()
        if not options["skip_import"] and not Review.objects.exists():
            self._import(verbosity=options["verbosity"])
        if not options["skip_baseline"]:
            self._first_model(created_by=admin)

    def _import(self, *, verbosity: int) -> None:
        source = settings.IMDB_SOURCE
        self.stdout.write(f"The database has no reviews: importing IMDb from {source} ...")
        try:
            call_command("import_reviews", source, verbosity=verbosity)
        except CommandError as error:
            raise CommandError(
                f"{error}\n\nThe platform needs reviews to start. Point IMDB_SOURCE at a local copy of IMDb, "
                "for example: IMDB_SOURCE=../shared/data/imdb make run (a folder of train/test/unsupervised "
                "parquet files, an aclImdb folder or aclImdb_v1.tar.gz)."
            ) from None

    def _first_model(self, *, created_by: Any) -> None:
        """The default snapshot and the TF-IDF baseline on it, on a platform that has neither run nor model."""
        if TrainingRun.objects.exists() or ModelVersion.objects.exists() or not Review.objects.exists():
            return
        snapshot = DatasetSnapshot.objects.order_by("created_at").first()
        if snapshot is None:
            try:
                snapshot = snapshot_create(
                    name=DEFAULT_SNAPSHOT_NAME,
                    created_by=created_by,
                    description="Made by the first start: gold labels, 80/10/10, seed 42.",
                )
            except SnapshotError as error:
                # Not fatal: the site still starts, and the reviews page shows what there is to label.
                self.stdout.write(self.style.WARNING(f"No default snapshot was made: {error}"))
                return
            self.stdout.write(
                self.style.SUCCESS(
                    f"Made the default snapshot '{snapshot.name}': {snapshot.train_count:,} train, "
                    f"{snapshot.validation_count:,} validation and {snapshot.test_count:,} test reviews "
                    f"(content hash {snapshot.content_hash[:12]})."
                )
            )
        run = training_run_create(
            snapshot=snapshot,
            kind="tfidf",
            created_by=created_by,
            notes="The first start's baseline: TF-IDF and logistic regression on the default snapshot.",
        )
        site = os.environ.get("SITE_URL", "http://127.0.0.1:8000/")
        if settings.AUTO_PROMOTE:
            then = "becomes the current model when it succeeds, and the prediction form answers with it"
        else:
            then = "can be promoted on the Models page when it succeeds (AUTO_PROMOTE is off)"
        self.stdout.write(
            self.style.SUCCESS(
                f"Queued run {run.pk}, the TF-IDF baseline, on the default worker: it trains in about a minute "
                f"and {then}. Follow it at {site}runs/{run.pk}/"
            )
        )

    def _ensure_admin(self) -> Any:
        """The first superuser, made (and its password printed) when there is none."""
        users = get_user_model()
        existing = users.objects.filter(is_superuser=True).order_by("pk").first()
        if existing is not None:
            return existing
        username = os.environ.get("ADMIN_USERNAME", "admin")
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        admin = users.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the admin account. Log in at {os.environ.get('SITE_URL', 'http://127.0.0.1:8000/')} as '{username}' with password "
                f"'{password}' (change it with: python manage.py changepassword {username})."
            )
        )
        return admin
