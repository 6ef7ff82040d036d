"""Every failure answers the same envelope, from one exception handler: {"error": {code, message, fields}}."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.api.conftest import World

pytestmark = pytest.mark.django_db


def test_without_credentials_the_answer_is_401_with_the_token_scheme(world: World) -> None:
    response = APIClient().get("/api/training-runs/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {
        "error": {"code": "not_authenticated", "message": "Authentication credentials were not provided.", "fields": {}}
    }


def test_a_role_that_may_not_gets_403_naming_the_roles_it_needs_and_the_group_to_ask_for(world: World) -> None:
    response = world.client("analyst").post("/api/training-runs/", {"snapshot": world.snapshot.pk}, format="json")

    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "permission_denied",
        "message": "Only ML admins may do this (your roles: analyst): ask an administrator to add your account to "
        "the ml_admin group.",
        "fields": {},
    }


def test_an_unknown_id_is_a_404_that_names_what_is_missing(world: World) -> None:
    response = world.client("analyst").get("/api/training-runs/999999/")

    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "There is no training run 999999.",
        "fields": {},
    }


def test_an_id_too_large_for_the_database_is_a_404_not_a_server_error(world: World) -> None:
    response = world.client("analyst").get("/api/reviews/99999999999999999999999/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_address_under_api_that_names_no_endpoint_is_a_404_in_the_envelope(world: World) -> None:
    response = world.client("analyst").get("/api/no-such-thing/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "There is no API endpoint at /api/no-such-thing/; the endpoints are listed at /api/docs/.",
        "fields": {},
    }


def test_pages_outside_the_api_keep_their_html_404(admin_client: Any) -> None:
    response = admin_client.get("/no-such-page/")

    assert response.status_code == 404
    assert "text/html" in response["Content-Type"]


def test_a_method_an_endpoint_lacks_is_405_in_the_envelope(world: World) -> None:
    response = world.client("ml_admin").delete("/api/training-runs/")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_nested_input_errors_name_the_item_and_field_and_nothing_is_stored(world: World) -> None:
    body = {"reviews": [{"text": "A fine film."}, {"text": "Another.", "gold_label": "splendid"}, {"rating": 3}]}

    response = world.client("integration").post("/api/reviews/bulk/", body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"] == {
        "reviews[1].gold_label": 'A label is "negative" or "positive" (or 0 / 1).',
        "reviews[2].text": "This field is required.",
    }
    assert error["message"].startswith('reviews[1].gold_label: A label is "negative"')


def test_a_service_refusal_names_each_field_as_the_service_does(world: World) -> None:
    body = {"snapshot": world.snapshot.pk, "kind": "tfidf", "subset_size": 100_000}

    response = world.client("ml_admin").post("/api/training-runs/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["subset_size"]
    assert "larger than the" in response.json()["error"]["fields"]["subset_size"]


def test_a_body_that_is_not_json_is_a_400_parse_error(world: World) -> None:
    response = world.client("ml_admin").generic(
        "POST", "/api/training-runs/", b'{"snapshot": ', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert "not valid JSON" in response.json()["error"]["message"]


def test_an_unexpected_error_is_a_logged_500_in_the_envelope_without_internals(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**_: Any) -> Any:
        raise RuntimeError("database on fire: password=hunter2")

    monkeypatch.setattr("apps.training.api.training_runs.training_run_list", broken)

    response = world.client("analyst").get("/api/training-runs/")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert "hunter2" not in response.content.decode()
    assert "database on fire" in caplog.text
