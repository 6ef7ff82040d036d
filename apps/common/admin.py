"""The admin's API tokens (listed and revoked, never shown: ``manage.py create_api_token``) and users with roles."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.common.models import ApiToken
from apps.common.roles import ANALYST, INTEGRATION, ML_ADMIN, role_group
from apps.common.services import api_token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    # The hash is of no use to a person, and the key itself is never stored.
    fields = readonly_fields = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
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


ROLE_CHOICES = [
    (ANALYST, "Analyst: labels reviews, reads runs and models, tries predictions"),
    (ML_ADMIN, "ML admin: everything an analyst does, plus imports, snapshots, runs and promotion"),
    (INTEGRATION, "Integration: a machine account for the REST API"),
]


class UserWithRolesCreationForm(AdminUserCreationForm):
    """The admin's "Add user" form with the roles, so a new account can work after its first save."""

    roles = forms.MultipleChoiceField(
        choices=ROLE_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="ML admins also get staff status, which lets them into this admin.",
    )


class UserWithRolesAdmin(UserAdmin):
    add_form = UserWithRolesCreationForm
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "usable_password", "password1", "password2", "roles")}),
    )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        roles = form.cleaned_data.get("roles") if not change else None
        if roles and ML_ADMIN in roles:
            obj.is_staff = True
        super().save_model(request, obj, form, change)
        if roles:
            obj.groups.add(*(role_group(role) for role in roles))


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), UserWithRolesAdmin)
