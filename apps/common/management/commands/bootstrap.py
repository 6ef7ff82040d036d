"""First-run setup for ``make run``: an admin account, and IMDb when the database is empty."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.reviews.models import Review


class Command(BaseCommand):
    help = "Create an admin user if there is none, and import IMDb from IMDB_SOURCE if there are no reviews."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--skip-import", action="store_true", help="Do not import IMDb even if empty.")

    def handle(self, *args: Any, **options: Any) -> None:
        self._ensure_admin()
        if options["skip_import"] or Review.objects.exists():
            return
        source = settings.IMDB_SOURCE
        self.stdout.write(f"The database has no reviews: importing IMDb from {source} ...")
        try:
            call_command("import_reviews", source, verbosity=options["verbosity"])
        except CommandError as error:
            raise CommandError(
                f"{error}\n\nThe platform needs reviews to start. Point IMDB_SOURCE at a local copy of IMDb, "
                "for example: IMDB_SOURCE=../shared/data/imdb make run (a folder of train/test/unsupervised "
                "parquet files, an aclImdb folder or aclImdb_v1.tar.gz)."
            ) from None

    def _ensure_admin(self) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            return
        username = os.environ.get("ADMIN_USERNAME", "admin")
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the admin account. Log in at {os.environ.get('SITE_URL', 'http://127.0.0.1:8000/')} as '{username}' with password "
                f"'{password}' (change it with: python manage.py changepassword {username})."
            )
        )
