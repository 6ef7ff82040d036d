"""Adding a user in the admin: the roles are chosen on the first form, not in a second save."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.common.roles import is_analyst, is_ml_admin

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _static_files(static_files_as_in_development: None) -> None:
    """The admin's pages link static files."""


def add_user(client: Client, username: str, *roles: str) -> None:
    response = client.post(
        "/admin/auth/user/add/",
        {
            "username": username,
            "usable_password": "true",
            "password1": "a-long-enough-password-1",
            "password2": "a-long-enough-password-1",
            "roles": list(roles),
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]


def test_the_add_user_form_offers_the_roles(admin_client: Client) -> None:
    page = admin_client.get("/admin/auth/user/add/").content.decode()

    assert 'name="roles" value="analyst"' in page and 'name="roles" value="ml_admin"' in page


def test_an_analyst_added_in_one_save_can_work_at_once(admin_client: Client) -> None:
    add_user(admin_client, "ana", "analyst")

    ana = get_user_model().objects.get(username="ana")
    assert is_analyst(ana) and not is_ml_admin(ana) and not ana.is_staff


def test_an_ml_admin_added_in_one_save_gets_into_the_admin_too(admin_client: Client) -> None:
    add_user(admin_client, "mia", "ml_admin")

    mia = get_user_model().objects.get(username="mia")
    assert is_ml_admin(mia) and mia.is_staff
