"""The TF-IDF kind's own settings: stored on the run, validated per field, settable everywhere runs start,
and shown instead of transformer settings on the run page, in compare and in the admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.training.forms import TrainingRunForm
from apps.training.models import TrainingRun
from apps.training.services import RunConfigError, training_config_of, training_run_create
from tests.dashboard.factories import make_run, make_snapshot


def form_data(snapshot: Any, **changes: Any) -> dict[str, Any]:
    data = {
        "snapshot": snapshot.pk, "kind": "tfidf", "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "learning_rate": "2e-5", "batch_size": "16", "epochs": "2", "weight_decay": "0.01", "max_length": "256",
        "truncation": "head", "lowercase": "on", "seed": "42", "warmup_ratio": "0", "tfidf_ngram_max": "3",
        "tfidf_min_df": "2", "tfidf_c": "16", "tfidf_nb_weighting": "on",
    }  # fmt: skip
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


@pytest.mark.django_db
def test_a_run_stores_its_tfidf_settings_and_trains_with_them() -> None:
    snapshot = make_snapshot()

    run = training_run_create(
        snapshot=snapshot, kind="tfidf", tfidf_ngram_max=2, tfidf_min_df=3, tfidf_c=None, tfidf_nb_weighting=False,
        enqueue=False,
    )  # fmt: skip

    run.refresh_from_db()
    config = training_config_of(run)
    assert (run.tfidf_ngram_max, run.tfidf_min_df, run.tfidf_c, run.tfidf_nb_weighting) == (2, 3, None, False)
    assert (config.tfidf_ngram_max, config.tfidf_min_df, config.tfidf_c, config.tfidf_nb_weighting) == (2, 3, None, False)


@pytest.mark.django_db
def test_bad_tfidf_settings_get_a_message_per_field() -> None:
    snapshot = make_snapshot()

    with pytest.raises(RunConfigError) as raised:
        training_run_create(snapshot=snapshot, kind="tfidf", tfidf_ngram_max=9, tfidf_min_df=0, tfidf_c=-1.0)

    assert raised.value.errors == {
        "tfidf_ngram_max": "Longest n-gram must be between 1 and 5 (got 9).",
        "tfidf_min_df": "Minimum review count (min_df) must be at least 1 (got 0).",
        "tfidf_c": "C (inverse regularisation) must be greater than 0 and at most 1e+06 (got -1).",
    }
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_the_run_form_takes_the_tfidf_settings_and_an_empty_c_means_chosen_on_validation() -> None:
    snapshot = make_snapshot()
    form = TrainingRunForm(data=form_data(snapshot, tfidf_ngram_max="2", tfidf_c="", tfidf_nb_weighting=None))

    assert form.is_valid(), form.errors
    run = form.create(enqueue=False)

    assert (run.tfidf_ngram_max, run.tfidf_c, run.tfidf_nb_weighting) == (2, None, False)


@pytest.mark.django_db
def test_the_admin_shows_a_tfidf_run_with_its_own_settings(admin_client: Client) -> None:
    run = make_run(make_snapshot(), kind="tfidf", tfidf_min_df=3)

    change = admin_client.get(reverse("admin:training_trainingrun_change", args=[run.pk])).content.decode()
    listing = admin_client.get(reverse("admin:training_trainingrun_changelist")).content.decode()

    assert "TF-IDF settings" in change and "Learning rate" not in change and "Base model" not in change
    assert '<div class="readonly">3</div>' in change
    assert "word 1-3 grams, naive-Bayes weighted" in listing


@pytest.mark.django_db
def test_the_admin_add_form_groups_the_settings_of_each_kind(admin_client: Client) -> None:
    make_snapshot()

    page = admin_client.get(reverse("admin:training_trainingrun_add")).content.decode()

    assert "Transformer settings" in page and "TF-IDF settings" in page
    assert 'name="tfidf_ngram_max"' in page and 'name="tfidf_nb_weighting"' in page
