"""API tokens: stored hashed, shown once, revocable, with when they were last used; and the roles."""

from __future__ import annotations

import hashlib
import importlib
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import AnonymousUser, Group
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.common.models import ApiToken
from apps.common.roles import ANALYST, INTEGRATION, ML_ADMIN, ROLES, is_analyst, is_ml_admin
from apps.common.services import ApiTokenError, api_token_authenticate, api_token_create, api_token_revoke
from tests.registry.factories import UserFactory

pytestmark = pytest.mark.django_db

# Any endpoint behind the default authentication will do: one's own tokens need no role.
ENDPOINT = "/api/tokens/"


@pytest.fixture(autouse=True)
def _static_files_as_in_development(settings: Any, tmp_path: Any) -> None:
    """Pages render without a collectstatic manifest (there is none in tests)."""
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def get(key: str | None = None, header: str | None = None) -> Any:
    client = APIClient()
    if header is None and key is not None:
        header = f"Token {key}"
    return client.get(ENDPOINT, **({"HTTP_AUTHORIZATION": header} if header is not None else {}))


def test_a_token_is_stored_as_a_hash_with_its_prefix_and_the_key_is_returned_once() -> None:
    user = UserFactory()

    token, key = api_token_create(user=user, name="nightly export")

    token.refresh_from_db()
    assert len(key) >= 40
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert token.prefix == key[:8]
    assert key not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    assert token.last_used_at is None and token.revoked_at is None


def test_the_command_prints_the_key_once_and_it_authenticates() -> None:
    user = UserFactory(username="integration-bot")
    out, err = StringIO(), StringIO()

    call_command("create_api_token", "integration-bot", "--name", "CRM sync", stdout=out, stderr=err)

    key = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (user, "CRM sync")
    assert "shown only this once" in err.getvalue()
    assert get(key).status_code == 200


def test_the_command_names_an_unknown_user_and_a_missing_name(db: None) -> None:
    UserFactory(username="known")
    with pytest.raises(CommandError, match="There is no user 'nobody'"):
        call_command("create_api_token", "nobody", "--name", "x")
    with pytest.raises(CommandError, match="Give the token a name"):
        call_command("create_api_token", "known", "--name", "  ")


def test_an_inactive_user_gets_no_token() -> None:
    with pytest.raises(ApiTokenError, match="inactive"):
        api_token_create(user=UserFactory(is_active=False), name="x")


def test_a_request_with_a_token_is_that_users_and_records_when_it_was_used() -> None:
    user = UserFactory()
    token, key = api_token_create(user=user, name="ci")

    response = get(key)

    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert timezone.now() - token.last_used_at < timedelta(seconds=10)


def test_last_used_is_written_at_most_once_a_minute() -> None:
    token, key = api_token_create(user=UserFactory(), name="busy")
    recent = timezone.now() - timedelta(seconds=30)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=recent)

    api_token_authenticate(key=key)
    token.refresh_from_db()
    assert token.last_used_at == recent

    stale = timezone.now() - timedelta(minutes=2)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=stale)
    api_token_authenticate(key=key)
    token.refresh_from_db()
    assert token.last_used_at > stale


def test_a_revoked_token_gets_401_and_revoking_twice_changes_nothing() -> None:
    token, key = api_token_create(user=UserFactory(), name="old")
    api_token_revoke(token=token)
    revoked_at = ApiToken.objects.get().revoked_at

    api_token_revoke(token=ApiToken.objects.get())

    response = get(key)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert "Invalid or revoked token" in response.json()["error"]["message"]
    assert ApiToken.objects.get().revoked_at == revoked_at


@pytest.mark.parametrize(
    "header",
    ["Token", "Token a b", "Token not-a-real-key-at-all-but-long-enough"],
    ids=["no key", "two keys", "unknown key"],
)
def test_malformed_and_unknown_tokens_get_401(header: str) -> None:
    api_token_create(user=UserFactory(), name="real")

    assert get(header=header).status_code == 401


def test_a_wrong_key_with_a_real_tokens_prefix_is_refused() -> None:
    _, key = api_token_create(user=UserFactory(), name="real")

    assert get(key[:8] + "x" * 35).status_code == 401


def test_a_token_of_a_deactivated_user_is_refused() -> None:
    user = UserFactory()
    _, key = api_token_create(user=user, name="ci")
    user.is_active = False
    user.save()

    assert get(key).status_code == 401


def test_another_authorization_scheme_is_left_to_the_next_authenticator() -> None:
    assert get(header="Bearer something").status_code == 401


def test_the_admin_lists_tokens_without_their_keys_and_revokes_them(admin_client: Any) -> None:
    token, key = api_token_create(user=UserFactory(), name="dashboard feed")
    changelist = reverse("admin:common_apitoken_changelist")

    page = admin_client.get(changelist).content.decode()
    detail = admin_client.get(reverse("admin:common_apitoken_change", args=[token.pk])).content.decode()
    revoked = admin_client.post(changelist, {"action": "revoke_tokens", "_selected_action": [token.pk]}, follow=True)

    assert "dashboard feed" in page and token.prefix in page
    assert key not in page and token.key_hash not in page and token.key_hash not in detail
    assert admin_client.get(reverse("admin:common_apitoken_add")).status_code == 403
    assert "Revoked dashboard feed" in revoked.content.decode()
    assert ApiToken.objects.get().revoked_at is not None


def test_roles_ml_admins_are_analysts_too_and_superusers_are_ml_admins() -> None:
    analyst = UserFactory(roles=[ANALYST])
    ml_admin = UserFactory(roles=[ML_ADMIN])
    integration = UserFactory(roles=[INTEGRATION])
    superuser = UserFactory(is_superuser=True)

    assert [is_ml_admin(user) for user in (analyst, ml_admin, integration, superuser)] == [False, True, False, True]
    assert [is_analyst(user) for user in (analyst, ml_admin, integration, superuser)] == [True, True, False, True]
    assert not is_ml_admin(AnonymousUser()) and not is_analyst(AnonymousUser())
    ml_admin.is_active = False
    assert not is_ml_admin(ml_admin)


def test_the_data_migration_creates_the_three_role_groups_once() -> None:
    migration = importlib.import_module("apps.common.migrations.0002_role_groups")
    Group.objects.filter(name__in=ROLES).delete()

    migration.create_groups(django_apps, None)
    migration.create_groups(django_apps, None)

    assert sorted(Group.objects.filter(name__in=ROLES).values_list("name", flat=True)) == sorted(ROLES)
