"""Pages for the TF-IDF kind's own settings: the run form, the run page and compare show a run's own settings."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.training.models import TrainingRun
from tests.dashboard.factories import make_run, make_snapshot
from tests.training.test_tfidf_settings import form_data


@pytest.mark.django_db
def test_the_run_form_shows_the_trainers_own_message_for_a_bad_tfidf_setting(ml_admin_client: Client) -> None:
    snapshot = make_snapshot()

    page = ml_admin_client.post("/runs/new/", form_data(snapshot, tfidf_ngram_max="7")).content.decode()

    assert "Longest n-gram must be between 1 and 5 (got 7)." in page
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_the_api_starts_a_tfidf_run_with_its_settings_and_reports_them(ml_admin_client: Client) -> None:
    snapshot = make_snapshot()
    body = {"snapshot": snapshot.pk, "kind": "tfidf", "tfidf_ngram_max": 2, "tfidf_c": 4.0, "tfidf_nb_weighting": False}

    response = ml_admin_client.post("/api/training-runs/", body, content_type="application/json")

    assert response.status_code == 202, response.content
    settings = response.json()["hyperparameters"]
    assert (settings["tfidf_ngram_max"], settings["tfidf_min_df"], settings["tfidf_c"], settings["tfidf_nb_weighting"]) == (
        2, 2, 4.0, False,
    )  # fmt: skip


@pytest.mark.django_db
def test_the_api_refuses_a_bad_tfidf_setting_by_field(ml_admin_client: Client) -> None:
    snapshot = make_snapshot()

    response = ml_admin_client.post(
        "/api/training-runs/", {"snapshot": snapshot.pk, "kind": "tfidf", "tfidf_min_df": 0}, content_type="application/json"
    )

    assert response.status_code == 400
    assert "tfidf_min_df" in response.content.decode()
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_a_tfidf_run_page_shows_its_own_settings_not_a_transformers(analyst_client: Client) -> None:
    run = make_run(make_snapshot(), kind="tfidf", tfidf_ngram_max=3, tfidf_c=16.0)

    page = analyst_client.get(f"/runs/{run.pk}/").content.decode()

    assert '<th scope="row">tfidf_ngram_max</th><td>3</td>' in page
    assert '<th scope="row">tfidf_c</th><td>16</td>' in page
    for transformer_setting in ("learning_rate", "base_model", "max_length", "epochs", "batch_size"):
        assert f'<th scope="row">{transformer_setting}</th>' not in page


@pytest.mark.django_db
def test_a_transformer_run_page_shows_no_tfidf_settings(analyst_client: Client) -> None:
    run = make_run(make_snapshot(), kind="transformer")

    page = analyst_client.get(f"/runs/{run.pk}/").content.decode()

    assert '<th scope="row">learning_rate</th><td>2e-05</td>' in page
    assert "tfidf_ngram_max" not in page


@pytest.mark.django_db
def test_compare_never_calls_a_setting_equal_between_a_tfidf_and_a_transformer_run(analyst_client: Client) -> None:
    snapshot = make_snapshot()
    tfidf = make_run(snapshot, kind="tfidf")
    transformer = make_run(snapshot, kind="transformer")

    page = analyst_client.get(f"/compare/?runs={tfidf.pk}&runs={transformer.pk}").content.decode()

    assert '<tr class="differs"><th scope="row">base_model</th><td>not used</td><td>sentence-transformers/all-MiniLM-L6-v2</td></tr>' in page
    assert '<tr class="differs"><th scope="row">tfidf_ngram_max</th><td>3</td><td>not used</td></tr>' in page
    assert '<tr><th scope="row">seed</th><td>42</td><td>42</td></tr>' in page
