"""Password guessing through every sign-in door: the login page, the admin's, and POST /api/auth/token/.

The guesser forges a new X-Forwarded-For on every try, as a client can. With no proxy configured
(NUM_PROXIES=0) the header counts for nothing: the real address is locked out, and so is the account,
and the right password is refused too until the lock expires.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.test import Client, RequestFactory

from apps.common.addresses import client_address
from tests.registry.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"
REAL_ADDRESS = "198.51.100.7"
LIMIT = 5


@pytest.fixture(autouse=True)
def _lockout_settings(settings: Any, static_files_as_in_development: None) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = LIMIT
    # The API's own rate limit would stop the guesser first; lockout is what is under test here.
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "login": "1000/minute"}
    cache.clear()


def _login_page(client: Client, password: str, forged: str) -> Any:
    return client.post(
        "/accounts/login/", {"username": "mia", "password": password}, REMOTE_ADDR=REAL_ADDRESS,
        HTTP_X_FORWARDED_FOR=forged,
    )


def _admin_login(client: Client, password: str, forged: str) -> Any:
    return client.post(
        "/admin/login/?next=/admin/", {"username": "mia", "password": password}, REMOTE_ADDR=REAL_ADDRESS,
        HTTP_X_FORWARDED_FOR=forged,
    )


def _token_login(client: Client, password: str, forged: str) -> Any:
    return client.post(
        "/api/auth/token/", json.dumps({"username": "mia", "password": password}), content_type="application/json",
        REMOTE_ADDR=REAL_ADDRESS, HTTP_X_FORWARDED_FOR=forged,
    )


DOORS = {"login page": _login_page, "admin login": _admin_login, "API token": _token_login}


@pytest.mark.parametrize("door", DOORS)
def test_guessing_with_forged_addresses_locks_the_real_address_and_refuses_even_the_right_password(door: str) -> None:
    UserFactory(username="mia", is_staff=True, is_superuser=True)
    sign_in = DOORS[door]
    client = Client(enforce_csrf_checks=False)

    wrong = [sign_in(client, f"guess-{n}", f"203.0.113.{n}").status_code for n in range(LIMIT + 3)]
    right = sign_in(client, PASSWORD, "203.0.113.200")

    assert 429 not in wrong[: LIMIT - 1], wrong
    assert wrong[LIMIT:] == [429] * 3, wrong
    assert right.status_code == 429
    assert "Too many failed sign-ins" in right.content.decode()
    assert int(right["Retry-After"]) > 0
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {REAL_ADDRESS}


def test_a_locked_out_api_client_gets_the_error_envelope() -> None:
    UserFactory(username="mia")
    client = Client()
    for n in range(LIMIT):
        _token_login(client, "wrong", f"203.0.113.{n}")

    body = _token_login(client, PASSWORD, "203.0.113.99").json()

    assert body["error"]["code"] == "locked_out"
    assert "Try again in 15 minutes" in body["error"]["message"]


def test_the_account_is_locked_whichever_address_the_guesses_come_from() -> None:
    UserFactory(username="mia")
    client = Client()
    for n in range(LIMIT):
        client.post("/accounts/login/", {"username": "mia", "password": "wrong"}, REMOTE_ADDR=f"192.0.2.{n}")

    response = client.post("/accounts/login/", {"username": "mia", "password": PASSWORD}, REMOTE_ADDR="192.0.2.200")

    assert response.status_code == 429


def test_a_right_password_before_the_limit_signs_in_and_forgets_the_failures() -> None:
    UserFactory(username="mia")
    client = Client()
    for n in range(LIMIT - 1):
        _login_page(client, "wrong", f"203.0.113.{n}")

    assert _login_page(client, PASSWORD, "203.0.113.50").status_code == 302
    assert not AccessAttempt.objects.filter(failures_since_start__gt=0).exists()


@pytest.mark.parametrize(
    ("num_proxies", "trusted", "peer", "forwarded", "expected"),
    [
        (0, [], "10.0.0.2", "203.0.113.9", "10.0.0.2"),
        (1, [], "10.0.0.2", "203.0.113.9", "203.0.113.9"),
        # The client wrote the first address; our one proxy appended the real one.
        (1, [], "10.0.0.2", "6.6.6.6, 203.0.113.9", "203.0.113.9"),
        (2, [], "10.0.0.2", "6.6.6.6, 203.0.113.9, 10.0.0.1", "203.0.113.9"),
        # A peer outside the proxies' network is the client, whatever it forwards.
        (1, ["10.0.0.0/8"], "198.51.100.1", "203.0.113.9", "198.51.100.1"),
        (1, ["10.0.0.0/8"], "10.0.0.2", "203.0.113.9", "203.0.113.9"),
        (1, [], "10.0.0.2", "not-an-address", "10.0.0.2"),
    ],
)
def test_the_client_address_is_read_only_as_far_as_the_proxies_configured(
    settings: Any, num_proxies: int, trusted: list[str], peer: str, forwarded: str, expected: str
) -> None:
    settings.NUM_PROXIES = num_proxies
    settings.TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)

    assert client_address(request) == expected
