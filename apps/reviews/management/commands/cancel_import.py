"""``python manage.py cancel_import ID``: cancel a queued or running import; it imports nothing."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.common.models import IllegalTransition
from apps.reviews.models import ImportJob
from apps.reviews.services import import_job_cancel


class Command(BaseCommand):
    help = "Cancel an import: a queued one at once, a running one before its next chunk. Nothing of it is kept."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("import_id", type=int, help="The import's id (python manage.py shell, the admin or /api/imports/).")

    def handle(self, *args: Any, **options: Any) -> None:
        job = ImportJob.objects.filter(pk=options["import_id"]).first()
        if job is None:
            raise CommandError(f"There is no import {options['import_id']}.")
        try:
            job = import_job_cancel(job=job, by=None)
        except IllegalTransition as error:
            raise CommandError(str(error)) from None
        job.refresh_from_db()
        if job.status == "cancelled":
            self.stdout.write(self.style.SUCCESS(f"Import {job.pk} cancelled; nothing was imported."))
        else:
            self.stdout.write(f"Import {job.pk} is running; its worker stops it before the next chunk and keeps nothing.")
