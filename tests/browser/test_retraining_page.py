"""The retraining page in Chromium: real cycles (run in this process), Run now, and the list following a cycle live."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from apps.automation.jobs import CycleJob
from apps.automation.models import RetrainingCycle
from apps.automation.runners import CycleRunner
from apps.automation.services import cycle_cancel, cycle_start
from apps.common.choices import JobStatus
from apps.reviews.models import DatasetSnapshot
from tests.automation.conftest import (
    benchmark,  # noqa: F401  (a fixture)
    current_model,
    make_reviews,
    policy_for,
    resolve,
)

pytestmark = pytest.mark.django_db(transaction=True)


def run_cycle(policy: Any) -> RetrainingCycle:
    cycle = cycle_start(policy=policy, trigger="manual", enqueue=False)
    assert cycle is not None
    CycleRunner.handle(cycle.pk)
    cycle.refresh_from_db()
    return cycle


def test_an_ml_admin_sees_each_cycle_starts_one_and_watches_it_end_without_a_reload(
    page_for: Callable[[Any], Any],
    ml_admin: Any,
    benchmark: DatasetSnapshot,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
    monkeypatch: Any,
) -> None:
    from playwright.sync_api import expect

    from apps.dashboard.views import common

    monkeypatch.setattr(common, "POLL_SECONDS", 1)
    # The cycle Run now queues stays queued (the site runs in a thread of this process): a worker of
    # another test would otherwise take it at once.
    monkeypatch.setattr(CycleJob, "dispatch", classmethod(lambda cls, pk: False))
    current_model(flipped=True)
    policy = policy_for(benchmark, min_new_labels=30)
    resolve(make_reviews(30, source="good labels", seed=31))
    promoted = run_cycle(policy)
    resolve(make_reviews(40, source="noisy labels", seed=41), flipped=True)
    kept = run_cycle(policy)
    failing = policy_for(benchmark, name="too big a subset", hyperparameters={"subset_size": 5000})
    failed = run_cycle(failing)
    assert (promoted.promoted, kept.promoted, failed.status) == (True, False, JobStatus.FAILED), promoted.decision

    page = page_for(ml_admin)
    page.goto("/")
    page.get_by_role("link", name="Retraining").click()
    expect(page.get_by_role("heading", name="Retraining")).to_be_visible()
    cycles = page.locator("#cycles")
    expect(cycles.locator("tr.cycle")).to_have_count(3)
    expect(cycles).to_contain_text(f"Promoted version {promoted.candidate_id}: accuracy")
    expect(cycles).to_contain_text(f"Not promoted: version {kept.candidate_id} has accuracy")
    expect(cycles).to_contain_text("Failed: The training run could not be created: subset_size")
    expect(cycles.get_by_role("link", name=f"Run {promoted.training_run_id}")).to_be_visible()

    page.evaluate("window.marker = 1")
    page.locator("tr", has_text="too big a subset").get_by_role("button", name="Run now").click()
    expect(page.get_by_text("is queued; this page follows it.")).to_be_visible()
    queued = RetrainingCycle.objects.get(status=JobStatus.QUEUED)
    expect(cycles.locator("tr.cycle").first).to_contain_text("Queued")
    _screenshots(page, tmp_path)

    page.evaluate("window.marker = 1")
    cycle_cancel(cycle=queued, by=ml_admin)
    expect(cycles.locator("tr.cycle").first).to_contain_text("Cancelled")
    expect(cycles).to_contain_text("Cancelled; the current model stays.")
    assert page.evaluate("window.marker") == 1, "the list changed without a reload"


def _screenshots(page: Any, tmp_path: Path) -> None:
    """The page at a laptop's width and a phone's; RETRAINING_SCREENSHOTS names a folder to keep them in."""
    folder = Path(os.environ.get("RETRAINING_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(folder / f"retraining-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
