"""Label noise as an ML admin sees it: the estimate per snapshot, and a detection with its flagged reviews."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from apps.common.choices import JobStatus
from apps.labelling.models import NoiseDetection
from apps.labelling.noise import noise_detection_start
from apps.labelling.runners import NoiseRunner
from apps.reviews.models import Review
from apps.reviews.snapshots import snapshot_create
from tests.training.conftest import make_reviews

WIDTHS = (1366, 390)
FLIPPED = (4, 17, 30)


@pytest.fixture
def detection(transactional_db: None) -> tuple[NoiseDetection, set[str]]:
    """A finished detection over 80 reviews, three of whose gold labels contradict their words; and their ids."""
    reviews = make_reviews(80)
    for index in FLIPPED:
        Review.objects.filter(pk=reviews[index].pk).update(gold_label=1 - reviews[index].gold_label)
    snapshot = snapshot_create(name="eighty reviews", seed=3)
    started = noise_detection_start(snapshot=snapshot, split="", enqueue=False)
    NoiseRunner.handle(started.pk)
    done = NoiseDetection.objects.get(pk=started.pk)
    assert done.status == JobStatus.SUCCEEDED, done.error
    return done, {str(reviews[index].pk) for index in FLIPPED}


def test_the_detection_page_shows_the_estimate_the_fold_models_and_the_flipped_labels_first(
    ml_admin_page: Page, detection: tuple[NoiseDetection, set[str]], tmp_path: Path
) -> None:
    page = ml_admin_page
    detection, flipped_ids = detection
    shots = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    page.goto(f"/labelling/noise/{detection.pk}/")

    facts = page.locator("dl.facts")

    def fact(name: str) -> Locator:
        return facts.locator(f"dt:text-is('{name}') + dd")

    expect(fact("Fold models")).to_have_text("5 folds × 3 seeded splits, TF-IDF word 1-2-grams")
    expect(fact("Estimated wrong labels")).to_have_text(f"{detection.estimated_issues} ({detection.estimated_issues / 80:.1%})")
    expect(fact("Reviews checked")).to_have_text("80")
    rows = page.locator("table tbody tr")
    first = [rows.nth(index).locator("td").first.inner_text() for index in range(len(FLIPPED))]
    assert set(first) == flipped_ids
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the detection page runs {overflow}px off the side at {width}px"
        expect(facts).to_be_visible()
        page.screenshot(path=str(shots / f"noise-detection-{width}.png"), full_page=True)

    page.goto("/labelling/noise/")
    table = page.locator("table").first
    expect(table).to_contain_text("eighty reviews")
    expect(table).to_contain_text(str(detection.estimated_issues))
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the label-noise page runs {overflow}px off the side at {width}px"
        page.screenshot(path=str(shots / f"noise-{width}.png"), full_page=True)
