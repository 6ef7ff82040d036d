"""The Content-Security-Policy every page is served with, and pages that work under it: no inline script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

REPO = Path(__file__).resolve().parents[2]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


def _policy(header: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("url", ["/", "/runs/", "/reviews/", "/predict/", "/labelling/", "/accounts/login/"])
def test_every_page_allows_scripts_only_from_its_own_static_files(analyst_client: Client, url: str) -> None:
    response = analyst_client.get(url)

    policy = _policy(response["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    page = response.content.decode()
    assert not INLINE_SCRIPT.search(page), f"{url} has an inline script"
    assert not INLINE_HANDLER.search(page), f"{url} has an inline event handler"


def test_no_template_holds_an_inline_script_or_handler() -> None:
    templates = [*REPO.glob("templates/**/*.html"), *REPO.glob("apps/*/templates/**/*.html")]
    offending = [
        str(path.relative_to(REPO))
        for path in templates
        if INLINE_SCRIPT.search(path.read_text()) or INLINE_HANDLER.search(path.read_text())
    ]

    assert templates and offending == []


def test_swagger_ui_loads_its_start_up_script_from_a_url(analyst_client: Client) -> None:
    page = analyst_client.get("/api/docs/").content.decode()

    assert not INLINE_SCRIPT.search(page)
    script = re.search(r'<script src="([^"]*script[^"]*)"', page)
    assert script is not None
    answer = analyst_client.get(script.group(1).replace("&amp;", "&"))
    assert answer.status_code == 200 and "SwaggerUIBundle" in answer.content.decode()
