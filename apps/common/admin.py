"""API tokens in the admin: listed and revoked, never shown (create them with ``manage.py create_api_token``)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.common.models import ApiToken
from apps.common.services import api_token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    # The hash is of no use to a person, and the key itself is never stored.
    fields = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke_tokens"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A key is shown once, at creation: ``manage.py create_api_token USERNAME --name NAME``.
        return False

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = [api_token_revoke(token=token) for token in queryset.filter(revoked_at__isnull=True)]
        if revoked:
            names = ", ".join(str(token) for token in revoked)
            self.message_user(request, f"Revoked {names}; requests with them now get 401.", messages.SUCCESS)
        else:
            self.message_user(request, "The selected tokens were already revoked.", messages.INFO)
