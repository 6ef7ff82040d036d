"""``manage.py create_api_token USERNAME --name NAME``: make an API token and print its key once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.services import ApiTokenError, api_token_create


class Command(BaseCommand):
    help = (
        "Create an API token for USERNAME and print its key. The key is shown only this once (the database "
        "keeps its hash): store it where the integration reads it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="What the token is for, e.g. 'nightly export'.")

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()
        try:
            user = users.objects.get(**{users.USERNAME_FIELD: options["username"]})
        except users.DoesNotExist:
            raise CommandError(f"There is no user {options['username']!r}; create the account first.") from None
        try:
            token, key = api_token_create(user=user, name=options["name"])
        except ApiTokenError as error:
            raise CommandError(str(error)) from None
        self.stderr.write(
            f"Created API token {token.pk} {token.name!r} for {user}. Send it as 'Authorization: Token <key>'. "
            "The key is shown only this once:"
        )
        self.stdout.write(key)
