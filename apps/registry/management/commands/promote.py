"""``manage.py promote VERSION_ID [--reason ...] [--force]``: make a model version the current one."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.registry.models import ModelVersion
from apps.registry.services import PromotionError, model_version_promote


class Command(BaseCommand):
    help = (
        "Make a model version the current one (the one that serves predictions). Refused when its artifact "
        "files fail their checksums, when it is already current, or when its test accuracy is below the current "
        "version's on the same snapshot, unless --force is given with a --reason."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version_id", type=int, metavar="VERSION_ID")
        parser.add_argument("--reason", default="", help="Why this version should be current; kept in the history.")
        parser.add_argument(
            "--force", action="store_true", help="Promote despite a lower test accuracy (needs --reason)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        version = ModelVersion.objects.filter(pk=options["version_id"]).first()
        if version is None:
            raise CommandError(f"There is no model version {options['version_id']}.")
        try:
            promotion = model_version_promote(
                version=version, by=None, reason=options["reason"], force=options["force"]
            )
        except PromotionError as error:
            raise CommandError(str(error)) from None
        previous = f" (was model version {promotion.from_version_id})" if promotion.from_version_id else ""
        forced = " Forced." if promotion.forced else ""
        self.stdout.write(self.style.SUCCESS(f"Model version {version.pk} is now current{previous}.{forced}"))
