"""Requests a signed-in user can send that used to end in a 500: each now gets a 4xx that says what was wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import World

pytestmark = pytest.mark.django_db


def _schema_paths(world: World) -> list[str]:
    schema = world.client("ml_admin").get("/api/schema/").json()
    return sorted(path for path in schema["paths"] if "{" not in path)


def test_options_on_every_endpoint_answers_without_a_server_error(world: World) -> None:
    client = world.client("ml_admin")

    answers = {path: client.options(path).status_code for path in _schema_paths(world)}

    assert {path: status for path, status in answers.items() if status >= 500} == {}
    assert answers["/api/reviews/"] == 200


def test_a_body_over_the_upload_limit_gets_413_in_the_error_envelope(world: World, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    body = json.dumps({"text": "x" * 2_000})

    response = world.client("analyst").post("/api/predict", body, content_type="application/json")

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert "1.0 KB" in error["message"] and "DATA_UPLOAD_MAX_MEMORY_SIZE" in error["message"]


def test_a_json_body_nested_too_deeply_gets_400(world: World) -> None:
    body = "[" * 100_000 + "]" * 100_000

    response = world.client("analyst").post("/api/predict", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/labelling/queues/", {"name": "q", "pool": "all", "annotators": ["ana\x00"]}),
        ("post", "/api/reviews/", {"text": "A review.", "external_id": "x\x00"}),
        ("get", "/api/reviews/?source=a%00b", None),
    ],
)
def test_a_nul_character_anywhere_gets_400_saying_so(world: World, method: str, path: str, body: Any) -> None:
    client = world.client("ml_admin")
    if body is None:
        response = client.get(path)
    else:
        response = getattr(client, method)(path, json.dumps(body), content_type="application/json")

    assert response.status_code == 400, response.content
    assert "Null characters are not allowed" in response.json()["error"]["message"]


def test_a_queue_that_is_not_yours_is_a_404_that_says_so(world: World) -> None:
    response = world.client("analyst").get("/api/labelling/queues/999999/")

    assert response.status_code == 404
    assert response.json()["error"]["message"] == "There is no queue 999999 among your queues."
