"""The OpenAPI schema documents every operation, and its pages are served from installed packages."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from rest_framework.test import APIClient

from tests.api.conftest import World
from tests.conftest import REPO_ROOT, worker_environment

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def has_example(operation: dict[str, Any]) -> bool:
    contents = list(operation.get("requestBody", {}).get("content", {}).values())
    for code, response in operation["responses"].items():
        if code.startswith("2"):
            contents += list(response.get("content", {}).values())
    return any(content.get("examples") or content.get("example") for content in contents)


def test_every_operation_has_a_description_roles_examples_and_its_error_responses(world: World) -> None:
    schema = world.client("analyst").get("/api/schema/").json()
    missing = []

    for method, path, operation in operations(schema):
        bodyless = method == "DELETE"
        if not operation.get("description"):
            missing.append(f"{method} {path}: no description")
        if not bodyless and not has_example(operation):
            missing.append(f"{method} {path}: no example")
        if path != "/api/auth/token/" and not {"401", "403"} <= set(operation["responses"]):
            missing.append(f"{method} {path}: 401 and 403 not documented")
        if "default" not in operation["responses"]:
            missing.append(f"{method} {path}: no default error response")

    assert missing == []
    assert len(operations(schema)) >= 45
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    assert "webhook-signature" in schema["info"]["description"]


def test_the_schema_generates_without_a_warning() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null"],
        cwd=REPO_ROOT,
        env=worker_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-3000:]


def test_the_docs_pages_load_swagger_ui_and_redoc_from_this_site_not_a_cdn(world: World) -> None:
    client = Client()
    client.force_login(world.users["analyst"])

    for url, asset in (("/api/docs/", "swagger-ui-bundle.js"), ("/api/redoc/", "redoc.standalone.js")):
        page = client.get(url)
        html = page.content.decode()
        assert page.status_code == 200
        assert "/static/drf_spectacular_sidecar/" in html and asset in html
        external = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
        assert external == []
        url_of_asset = re.search(rf'"/static/([^"]*{re.escape(asset)})"', html)
        assert url_of_asset is not None and finders.find(url_of_asset.group(1)) is not None


def test_signed_out_the_schema_is_401_and_the_pages_send_you_to_sign_in(world: World) -> None:
    assert APIClient().get("/api/schema/").status_code == 401
    page = Client().get("/api/docs/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/?next=/api/docs/")


def test_the_docs_can_be_made_public(world: World, settings: Any) -> None:
    settings.API_DOCS_PUBLIC = True

    assert APIClient().get("/api/schema/").status_code == 200
    assert Client().get("/api/redoc/").status_code == 200
    assert APIClient().get("/api/models/").status_code == 401
