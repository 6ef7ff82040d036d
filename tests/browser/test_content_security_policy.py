"""The pages work under their Content-Security-Policy in a real browser: it blocks nothing of the site's own."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.dashboard.factories import make_run, make_snapshot

PAGES = ["/", "/runs/", "/reviews/", "/predict/", "/compare/", "/models/", "/labelling/", "/api/docs/", "/api/redoc/"]


@pytest.mark.django_db(transaction=True)
def test_no_page_meets_a_content_security_policy_violation(analyst_page: Page) -> None:
    make_run(make_snapshot())
    violations: list[str] = []
    analyst_page.on(
        "console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None
    )

    loaded_htmx = []
    for url in PAGES:
        analyst_page.goto(url)
        analyst_page.wait_for_load_state("networkidle")
        loaded_htmx.append(analyst_page.evaluate("typeof htmx") == "object")

    # htmx loaded and ran on every dashboard page (the API's documentation pages do without).
    assert loaded_htmx == [not url.startswith("/api/") for url in PAGES]
    # The one load refused is the one the policy is for: ReDoc's bundle fetches its logo from a CDN.
    assert [text for text in violations if "https://cdn.redoc.ly/" not in text] == []
