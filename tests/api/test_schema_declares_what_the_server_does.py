"""The schema says what the server answers: 304 on GETs, 413 on writes, 503 anywhere, and predict's one-of body."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tests.api.conftest import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(world: World) -> dict[str, Any]:
    return world.client("analyst").get("/api/schema/").json()


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def test_every_get_with_a_body_declares_its_bodiless_304(schema: dict[str, Any]) -> None:
    gets = [(p, op["responses"]) for m, p, op in _operations(schema) if m == "GET" and "200" in op["responses"]]

    assert gets
    assert [path for path, responses in gets if "304" not in responses or "content" in responses["304"]] == []


def test_every_write_declares_413_and_every_operation_503(schema: dict[str, Any]) -> None:
    operations = _operations(schema)

    assert [p for m, p, op in operations if m in ("POST", "PATCH") and "413" not in op["responses"]] == []
    assert [p for _, p, op in operations if "503" not in op["responses"]] == []


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"text": "A fine film."}, True),
        ({"texts": ["A fine film.", "A dull one."]}, True),
        ({}, False),
        ({"texts": []}, False),
        ({"text": "A", "texts": ["B"]}, False),
        ({"text": ""}, False),
    ],
)
def test_the_predict_body_schema_refuses_what_the_server_refuses(
    schema: dict[str, Any], world: World, body: dict[str, Any], valid: bool
) -> None:
    operation = schema["paths"]["/api/predict"]["post"]
    body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in body_schema:
        body_schema = schema["components"]["schemas"][body_schema["$ref"].rsplit("/", 1)[-1]]
    validator = jsonschema.Draft202012Validator(body_schema)

    assert validator.is_valid(body) is valid
    status = world.client("analyst").post("/api/predict", body, format="json").status_code
    assert (status == 200) is valid
