"""``manage.py rollback [--reason ...]``: make the previously current model version current again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.registry.services import PromotionError, model_version_rollback


class Command(BaseCommand):
    help = (
        "Make current again the model version that was current before the current one was promoted. "
        "Repeat to go further back."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reason", default="", help="Why; kept in the promotion history.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            promotion = model_version_rollback(by=None, reason=options["reason"])
        except PromotionError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Rolled back: model version {promotion.to_version_id} is current again "
                f"(was model version {promotion.from_version_id})."
            )
        )
