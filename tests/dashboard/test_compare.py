"""Runs side by side: differing settings highlighted, metrics, overlaid loss curves, reviews they disagree on."""

from __future__ import annotations

import re

from django.test import Client

from tests.dashboard.factories import make_run, make_snapshot, snapshot_test_review_ids


def test_two_runs_side_by_side_highlight_the_settings_that_differ(analyst_client: Client) -> None:
    snapshot = make_snapshot()
    first = make_run(snapshot, learning_rate=2e-5, epochs=2)
    second = make_run(snapshot, learning_rate=5e-5, epochs=2, losses=[(0.5, 0.5), (0.3, 0.4), (0.2, 0.45)])

    page = analyst_client.get(f"/compare/?runs={first.pk}&runs={second.pk}").content.decode()

    assert '<tr class="differs"><th scope="row">learning_rate</th><td>2e-05</td><td>5e-05</td></tr>' in page
    assert '<tr><th scope="row">epochs</th><td>2</td><td>2</td></tr>' in page
    assert page.count("<polyline") == 4, "train and validation loss of each run, overlaid"
    assert f"run {first.pk}: validation loss" in page and f"run {second.pk}: train loss" in page


def test_the_reviews_the_runs_predict_differently_are_listed_with_each_runs_prediction(analyst_client: Client) -> None:
    snapshot = make_snapshot()
    ids = snapshot_test_review_ids(snapshot)
    first = make_run(snapshot, flip={ids[0], ids[1]})
    second = make_run(snapshot, flip={ids[1], ids[2]})

    page = analyst_client.get(f"/compare/?runs={first.pk},{second.pk}").content.decode()

    listed = [int(pk) for pk in re.findall(r'<a href="/reviews/(\d+)/">', page)]
    assert listed == [ids[0], ids[2]], "both got ids[1] wrong the same way: no disagreement there"
    assert "2 reviews that every run predicted" in page


def test_with_fewer_than_two_runs_the_page_offers_finished_runs_to_pick(analyst_client: Client) -> None:
    snapshot = make_snapshot()
    first = make_run(snapshot)
    other = make_run(snapshot)

    page = analyst_client.get(f"/compare/?runs={first.pk}").content.decode()

    assert "Tick two to" in page
    assert f'value="{first.pk}" id="compare-{first.pk}" checked' in page
    assert f'value="{other.pk}" id="compare-{other.pk}">' in page
