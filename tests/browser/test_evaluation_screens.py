"""Evaluation pages in Chromium at desktop and phone widths: the slice tables show, nothing runs off the side,
and axe-core finds nothing serious.

The screenshots land in ``var/screenshots/evaluation-*.png`` (git-ignored), to be looked at by a person.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import Page, expect

from apps.common.roles import ANALYST, ML_ADMIN
from apps.training.evaluation_data import evaluation_dataset_create
from apps.training.services import evaluation_run_create
from apps.training.runners import evaluation_run_execute
from tests.browser.test_what_a_person_sees import axe_source, blocking_violations  # noqa: F401  (fixture)
from tests.conftest import REPO_ROOT
from tests.registry.factories import make_version, train_tfidf_artifact

SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
WIDTHS = {"desktop": 1366, "phone": 390}


def evaluated(version: Any, name: str, count: int) -> int:
    rows = []
    for n in range(count):
        positive = n % 3 != 0
        words = "a wonderful, moving film with a superb cast" if positive else "a dreadful, boring film"
        text = f"Review {n}: " + f"{words}. " * (1 + n % 9)
        rows.append({"text": text, "label": int(positive), "rating": (n % 10) + 1})
    upload = SimpleUploadedFile(name, "".join(json.dumps(row) + "\n" for row in rows).encode())
    evaluation = evaluation_run_create(model_version=version, dataset=evaluation_dataset_create(file=upload))
    evaluation_run_execute(run_id=evaluation.pk)
    return evaluation.pk


@pytest.fixture
def evaluations(make_user: Callable[..., Any], tmp_path: Path, settings: Any) -> tuple[Any, int, int, int]:
    settings.CELERY_TASK_ALWAYS_EAGER = False
    version = make_version(train_tfidf_artifact(tmp_path), accuracy=0.9)
    user = make_user("mia", ML_ADMIN, ANALYST)
    return user, version.pk, evaluated(version, "support-tickets.jsonl", 120), evaluated(version, "june.jsonl", 60)


@pytest.mark.parametrize("width_name", list(WIDTHS))
def test_the_evaluation_pages_show_their_slices_and_fit_the_screen(
    width_name: str, page_for: Callable[[Any], Page], evaluations: tuple[Any, int, int, int], axe_source: str
) -> None:
    user, version_id, first, second = evaluations
    page = page_for(user)
    page.set_viewport_size({"width": WIDTHS[width_name], "height": 900})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = {
        "detail": f"/evaluations/{first}/",
        "list": "/evaluations/",
        "start": f"/evaluations/new/?model_version={version_id}",
        "compare": f"/compare/?evaluations={first},{second}",
    }
    for name, url in pages.items():
        page.goto(url)
        page.screenshot(path=str(SCREENSHOTS / f"evaluation-{name}-{width_name}.png"), full_page=True)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{url} runs {overflow}px off the side at {WIDTHS[width_name]}px"
        assert blocking_violations(page, axe_source) == [], url

    page.goto(pages["detail"])
    rating = page.locator('[data-dimension="rating"] table')
    expect(rating).to_be_visible()
    expect(rating.locator('tr[data-slice="1"] td').first).to_have_text("12")
    expect(page.locator("[data-boundaries]")).to_contain_text("Quartile boundaries:")
