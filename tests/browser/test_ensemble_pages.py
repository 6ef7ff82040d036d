"""An ensemble as a person sees it: the prediction form names its members, the version page lists them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from apps.common.choices import JobStatus
from apps.predictions.serving import predictor
from apps.registry.ensembles import ensemble_build_create
from apps.registry.runners import ensemble_build_execute
from apps.registry.models import ModelVersion
from apps.registry.services import model_version_promote
from apps.reviews.snapshots import snapshot_create
from apps.training.services import training_run_create
from apps.training.runners import training_run_execute
from tests.training.conftest import make_reviews

WIDTHS = (1366, 390)


def tfidf_version(snapshot: Any, **settings: Any) -> ModelVersion:
    run = training_run_create(snapshot=snapshot, kind="tfidf", enqueue=False, **settings)
    training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    return run.model_version


@pytest.fixture
def current_ensemble(transactional_db: None) -> ModelVersion:
    make_reviews(60)
    snapshot = snapshot_create(name="sixty reviews", train_fraction=0.66, validation_fraction=0.17, test_fraction=0.17)
    members = [tfidf_version(snapshot), tfidf_version(snapshot, tfidf_ngram_max=1, tfidf_nb_weighting=False)]
    build = ensemble_build_create(members=members, enqueue=False)
    ensemble_build_execute(build_id=build.pk)
    build.refresh_from_db()
    assert build.status == JobStatus.SUCCEEDED, build.error
    model_version_promote(version=build.model_version, by=None, reason="browser test", force=True)
    predictor.clear()
    return build.model_version


def test_the_prediction_form_shows_each_members_answer_and_the_version_page_its_members(
    analyst_page: Page, current_ensemble: ModelVersion, tmp_path: Path
) -> None:
    page = analyst_page
    members = list(current_ensemble.memberships.order_by("position"))

    page.goto("/predict/")
    page.get_by_label("Review").fill("The acting was wonderful and the ending superb: a brilliant, moving film.")
    page.get_by_role("button", name="Predict").click()

    table = page.locator("#ensemble-members")
    expect(table).to_contain_text("The ensemble's members")
    for member in members:
        expect(table.get_by_role("link", name=f"v{member.member_id}", exact=True)).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(len(members))
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(tmp_path / f"predict-ensemble-{width}.png"), full_page=True)

    page.goto(f"/models/{current_ensemble.pk}/")
    facts = page.locator("ul.ensemble-members")
    expect(facts.locator("li")).to_have_count(len(members))
    expect(facts).to_contain_text(f"weight {members[0].weight:.3f}")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(tmp_path / f"model-ensemble-{width}.png"), full_page=True)
    page.goto("/models/")
    expect(page.locator("#versions")).to_contain_text(f"Ensemble of v{members[0].member_id} + v{members[1].member_id}")
