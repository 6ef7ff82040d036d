"""The dashboard in a real browser: log in, watch a run train, open a confusion-matrix cell, predict, compare."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from apps.predictions.serving import predictor
from apps.registry.models import ModelVersion
from apps.reviews.snapshots import snapshot_create
from apps.training.services import training_run_create
from tests.browser.conftest import log_in
from tests.conftest import WorkerProcess
from tests.dashboard.factories import make_run, make_snapshot, snapshot_test_review_ids
from tests.registry.factories import make_version, train_tfidf_artifact
from tests.training.conftest import make_reviews, tiny_transformer_settings

PROGRESS = "#run-live [role=progressbar]"
PROGRESS_VALUE = f"() => parseFloat(document.querySelector('{PROGRESS}').getAttribute('aria-valuenow'))"


def test_an_analyst_logs_in_through_the_form_and_lands_on_the_page_they_asked_for(
    page_for: Callable[[Any], Page], analyst: Any
) -> None:
    page = page_for(None)

    page.goto("/runs/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/runs/"))
    log_in(page, "ana")

    expect(page).to_have_url(re.compile(r"/runs/$"))
    expect(page.get_by_role("heading", name="Training runs")).to_be_visible()
    expect(page.locator(".logout")).to_contain_text("ana")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Predict")).to_be_visible()


def test_a_running_runs_progress_bar_advances_without_a_reload(
    celery_worker_process: WorkerProcess, tiny_bert_dir: Path, analyst_page: Page, poll_fast: None
) -> None:
    make_reviews(600, source="browser")
    snapshot = snapshot_create(name="browser", train_fraction=0.7, validation_fraction=0.15, test_fraction=0.15)
    # About 840 optimiser steps of the tiny BERT, some 20 s with progress written each second: enough
    # updates that a page polling each second sees the bar between 0 and 100 twice even on a busy machine.
    run = training_run_create(snapshot=snapshot, **tiny_transformer_settings(tiny_bert_dir, epochs=2, batch_size=1))
    page = analyst_page

    page.goto(f"/runs/{run.pk}/")
    page.evaluate("window.loadedOnce = true")
    first = page.wait_for_function(f"() => {{ const v = ({PROGRESS_VALUE})(); return v > 0 && v < 100 ? v : null; }}",
                                   timeout=120_000).json_value()  # fmt: skip
    later = page.wait_for_function(
        f"(first) => {{ const v = ({PROGRESS_VALUE})(); return v > first ? v : null; }}", arg=first, timeout=120_000
    ).json_value()

    assert later > first > 0
    assert page.evaluate("window.loadedOnce") is True, "the bar moved without the page reloading"
    expect(page.locator("#run-live .badge").first).to_have_text("Succeeded", timeout=180_000)
    expect(page.locator(PROGRESS)).to_have_attribute("aria-valuenow", "100.0")
    expect(page.locator("table.confusion")).to_be_visible()
    expect(page.locator("#run-live")).not_to_have_attribute("hx-trigger", re.compile(".*"))
    assert page.evaluate("window.loadedOnce") is True, "the run's end came in without a reload either"


def test_a_confusion_matrix_cell_opens_the_list_of_its_reviews(analyst_page: Page) -> None:
    snapshot = make_snapshot(40)
    ids = snapshot_test_review_ids(snapshot)
    gold = dict(snapshot.items.values_list("review_id", "label"))
    run = make_run(snapshot, flip=set(ids[:4]))
    false_positives = [review_id for review_id in ids[:4] if gold[review_id] == 0]
    page = analyst_page

    page.goto(f"/runs/{run.pk}/")
    page.locator("table.confusion td[data-cell='0-1'] a").click()

    expect(page).to_have_url(re.compile(rf"/runs/{run.pk}/cells/0/1/$"))
    expect(page.get_by_role("heading", name=re.compile("Wrong: gold negative, predicted positive"))).to_be_visible()
    rows = page.locator("#cell-results tbody tr")
    expect(rows).to_have_count(len(false_positives))
    first = run.predictions.select_related("review").get(review_id=rows.first.locator("a").inner_text().lstrip("#"))
    expect(rows.first).to_contain_text(first.review.text[:30])
    expect(rows.first).to_contain_text(f"{first.confidence:.3f}")
    rows.first.locator("a").click()
    expect(page.get_by_role("heading", name=f"Review {first.review_id}")).to_be_visible()


def test_the_prediction_form_shows_the_answer_in_the_page(analyst_page: Page, tmp_path: Path) -> None:
    version = make_version(train_tfidf_artifact(tmp_path), accuracy=0.9)
    ModelVersion.objects.filter(pk=version.pk).update(is_current=True)
    predictor.clear()
    page = analyst_page

    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Predict").click()
    page.evaluate("window.loadedOnce = true")
    page.get_by_label("Review").fill("The acting was wonderful and the ending superb: a brilliant, moving film.")
    page.get_by_role("button", name="Predict").click()

    result = page.locator("#prediction-result")
    expect(result).to_contain_text("Positive")
    expect(result).to_contain_text("confidence")
    expect(result).to_contain_text(str(version))
    assert page.evaluate("window.loadedOnce") is True, "the answer came without a reload"


def test_two_runs_are_ticked_in_the_list_and_compared_side_by_side(analyst_page: Page) -> None:
    snapshot = make_snapshot(40)
    ids = snapshot_test_review_ids(snapshot)
    first = make_run(snapshot, learning_rate=2e-5, flip={ids[0]})
    second = make_run(snapshot, learning_rate=5e-5, flip={ids[1]}, losses=[(0.5, 0.5), (0.3, 0.4), (0.2, 0.45)])
    page = analyst_page

    page.goto("/runs/")
    page.get_by_label(f"Compare run {first.pk}").check()
    page.get_by_label(f"Compare run {second.pk}").check()
    page.get_by_role("button", name="Compare the ticked runs").click()

    expect(page).to_have_url(re.compile(r"/compare/\?runs=\d+&runs=\d+$"))
    expect(page.locator("tr.differs", has_text="learning_rate")).to_contain_text("5e-05")
    expect(page.locator("tr", has_text="batch_size").first).not_to_have_class("differs")
    expect(page.locator("svg.chart polyline")).to_have_count(4)
    disagreements = page.locator("#disagreements tbody tr")
    expect(disagreements).to_have_count(2)
    expect(page.locator("#disagreements")).to_contain_text(f"#{ids[0]}")


def test_review_filters_update_the_results_in_place(analyst_page: Page) -> None:
    make_snapshot(40)
    page = analyst_page

    page.goto("/reviews/")
    page.evaluate("window.loadedOnce = true")
    expect(page.locator("#review-results")).to_contain_text("40 reviews")
    page.get_by_label("Gold label").select_option("positive")

    expect(page.locator("#review-results")).to_contain_text("20 reviews")
    expect(page).to_have_url(re.compile(r"gold=1"))
    page.get_by_label("Text").fill("wonderful")
    expect(page.locator("#review-results tbody tr").first).to_contain_text("wonderful")
    assert page.evaluate("window.loadedOnce") is True


def test_the_run_form_shows_the_chosen_kinds_settings_only(ml_admin_page: Page) -> None:
    page = ml_admin_page
    page.goto("/runs/new/")
    learning_rate = page.get_by_label("Learning rate")
    longest_ngram = page.get_by_label("Longest n-gram")
    seed = page.get_by_label("Seed")

    page.get_by_label("Kind").select_option("transformer")
    expect(learning_rate).to_be_visible()
    expect(page.get_by_label("Base model")).to_be_visible()
    expect(longest_ngram).to_be_hidden()
    expect(seed).to_be_visible()

    page.get_by_label("Kind").select_option("tfidf")
    expect(longest_ngram).to_be_visible()
    expect(page.get_by_label("Naive-Bayes weighting")).to_be_visible()
    expect(learning_rate).to_be_hidden()
    expect(page.get_by_label("Base model")).to_be_hidden()
    expect(seed).to_be_visible()
