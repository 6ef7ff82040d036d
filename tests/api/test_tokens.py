"""API tokens through the API: sign in for one, list, create and revoke one's own; keys shown once, stored hashed."""

from __future__ import annotations

import hashlib

import pytest
from rest_framework.test import APIClient

from apps.common.models import ApiToken
from tests.api.conftest import PASSWORD, World

pytestmark = pytest.mark.django_db


def test_signing_in_gives_a_working_token_whose_key_is_stored_only_as_a_hash(world: World) -> None:
    response = APIClient().post(
        "/api/auth/token/", {"username": "integration", "password": PASSWORD, "name": "CRM sync"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    token = ApiToken.objects.get(pk=body["id"])
    assert (token.user, token.name, token.prefix) == (world.users["integration"], "CRM sync", body["key"][:8])
    assert token.key_hash == hashlib.sha256(body["key"].encode()).hexdigest()
    used = APIClient().get("/api/training-runs/", HTTP_AUTHORIZATION=f"Token {body['key']}")
    assert used.status_code == 200


def test_a_wrong_password_gets_no_token(world: World) -> None:
    response = APIClient().post("/api/auth/token/", {"username": "integration", "password": "nope"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert ApiToken.objects.count() == len(world.tokens)


def test_a_user_lists_their_own_tokens_without_keys_and_creates_one_whose_key_is_shown_once(world: World) -> None:
    client = world.client("analyst")

    made = client.post("/api/tokens/", {"name": "notebook"}, format="json")
    listed = client.get("/api/tokens/").json()["results"]

    assert made.status_code == 201 and len(made.json()["key"]) >= 40
    assert [row["name"] for row in listed] == ["notebook", "analyst token"]
    assert all("key" not in row and "key_hash" not in row for row in listed)
    assert client.get(made["Location"]).json()["name"] == "notebook"


def test_revoking_a_token_stops_it_at_once_and_someone_elses_token_is_not_found(world: World) -> None:
    client = world.client("analyst")
    token, key = world.tokens["analyst"], world.keys["analyst"]

    others = client.delete(f"/api/tokens/{world.tokens['integration'].pk}/")
    revoked = client.delete(f"/api/tokens/{token.pk}/")
    after = client.get("/api/tokens/")

    assert others.status_code == 404
    assert revoked.status_code == 204
    assert after.status_code == 401 and after.json()["error"]["code"] == "authentication_failed"
    token.refresh_from_db()
    assert token.revoked_at is not None and ApiToken.objects.filter(pk=token.pk).exists()
    assert key
