"""The review browser: text search, filters over labels and a model's predictions, and one review's page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from apps.labelling.models import Annotation, Resolution
from apps.predictions.models import Prediction
from apps.registry.models import ModelVersion
from apps.reviews.models import Review
from tests.dashboard.factories import make_run, make_snapshot, snapshot_test_review_ids


def listed(client: Client, query: str) -> list[int]:
    page = client.get(f"/reviews/?{query}").content.decode()
    return sorted(int(pk) for pk in re.findall(r'<a href="/reviews/(\d+)/">#', page))


@pytest.fixture
def reviews(db: None) -> list[Review]:
    texts = [
        ("The acting was wonderful and the score superb.", 1, "train"),
        ("A dreadful script, boring from start to end.", 0, "train"),
        ("Charming cast, though the ending dragged.", 1, "test"),
        ("I could not stand the clumsy acting.", 0, "test"),
        ("An unlabelled review about a charming film.", None, "unsupervised"),
    ]
    return Review.objects.bulk_create(
        Review(text=text, gold_label=label, origin_split=split, source="t", external_id=str(n))
        for n, (text, label, split) in enumerate(texts)
    )


def predict(version: ModelVersion, review: Review, label: int, confidence: float) -> None:
    Prediction.objects.create(
        text=review.text, review=review, model_version=version, label=label, confidence=confidence,
        prob_negative=1 - confidence if label else confidence, prob_positive=confidence if label else 1 - confidence,
        source="batch",
    )  # fmt: skip


def test_text_search_matches_words_whatever_their_form(analyst_client: Client, reviews: list[Review]) -> None:
    assert listed(analyst_client, "q=acting") == [reviews[0].pk, reviews[3].pk]
    assert listed(analyst_client, "q=charm") == [reviews[2].pk, reviews[4].pk], "stemmed: charm matches charming"
    assert listed(analyst_client, "q=acting+-clumsy") == [reviews[0].pk]


def test_filters_by_origin_split_gold_label_and_human_label(analyst_client: Client, reviews: list[Review], analyst: Any) -> None:
    Resolution.objects.create(review=reviews[4], label=1, method="unanimous")
    Resolution.objects.create(review=reviews[2], label=0, method="settled")

    assert listed(analyst_client, "split=test") == [reviews[2].pk, reviews[3].pk]
    assert listed(analyst_client, "gold=1") == [reviews[0].pk, reviews[2].pk]
    assert listed(analyst_client, "gold=none") == [reviews[4].pk]
    assert listed(analyst_client, "human=1") == [reviews[4].pk]
    assert listed(analyst_client, "human=none&gold=0") == [reviews[1].pk, reviews[3].pk]
    assert listed(analyst_client, "disagreement=gold_human") == [reviews[2].pk]


def test_filters_by_the_current_models_prediction_confidence_and_disagreement(
    analyst_client: Client, reviews: list[Review]
) -> None:
    version = ModelVersion.objects.create(kind="tfidf", artifact_path="x", is_current=True)
    other = ModelVersion.objects.create(kind="tfidf", artifact_path="y")
    predict(version, reviews[0], 1, 0.97)
    predict(version, reviews[1], 1, 0.62)  # wrong: gold negative
    predict(version, reviews[4], 0, 0.55)
    predict(other, reviews[3], 1, 0.99)
    Resolution.objects.create(review=reviews[4], label=1, method="unanimous")

    assert listed(analyst_client, "predicted=1") == [reviews[0].pk, reviews[1].pk]
    assert listed(analyst_client, "min_confidence=0.6&max_confidence=0.9") == [reviews[1].pk]
    assert listed(analyst_client, "disagreement=model_gold") == [reviews[1].pk]
    assert listed(analyst_client, "disagreement=model_human") == [reviews[4].pk]
    assert listed(analyst_client, f"model={other.pk}&predicted=1") == [reviews[3].pk]
    assert listed(analyst_client, "disagreement=model_gold&predicted=1") == [reviews[1].pk]
    assert listed(analyst_client, "disagreement=model_gold&predicted=0") == []
    assert listed(analyst_client, "disagreement=model_gold&min_confidence=0.7") == []
    assert listed(analyst_client, "disagreement=model_human&predicted=0&max_confidence=0.6") == [reviews[4].pk]
    assert listed(analyst_client, "disagreement=model_human&predicted=1") == []
    assert listed(analyst_client, "q=acting&predicted=1") == [reviews[0].pk]
    page = analyst_client.get("/reviews/?predicted=1").content.decode()
    assert "0.970" in page and "0.620" in page


def test_a_training_runs_test_predictions_count_as_its_versions_predictions(analyst_client: Client) -> None:
    snapshot = make_snapshot()
    ids = snapshot_test_review_ids(snapshot)
    run = make_run(snapshot, flip={ids[0]})
    ModelVersion.objects.filter(pk=run.model_version.pk).update(is_current=True)

    assert listed(analyst_client, "disagreement=model_gold") == [ids[0]]
    flipped_to = 1 - Review.objects.get(pk=ids[0]).gold_label
    assert listed(analyst_client, f"disagreement=model_gold&predicted={flipped_to}") == [ids[0]]
    assert listed(analyst_client, f"disagreement=model_gold&predicted={1 - flipped_to}") == []
    assert len(listed(analyst_client, f"snapshot={snapshot.pk}&snapshot_split=test")) == len(ids)


def test_an_empty_confidence_range_is_explained_next_to_the_field(analyst_client: Client, reviews: list[Review]) -> None:
    page = analyst_client.get("/reviews/?min_confidence=0.9&max_confidence=0.2").content.decode()

    assert "The range is empty" in page


def test_the_list_is_paginated_and_htmx_gets_the_results_only(analyst_client: Client) -> None:
    Review.objects.bulk_create(Review(text=f"review number {n}", source="t", external_id=str(n)) for n in range(30))

    first = analyst_client.get("/reviews/").content.decode()
    second = analyst_client.get("/reviews/?page=2", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="review-results")

    assert "Page 1 of 2" in first and "30 reviews" in first
    assert second.content.decode().lstrip().startswith('<section id="review-results"')
    assert len(re.findall(r'<a href="/reviews/\d+/">#', second.content.decode())) == 5


def test_a_review_page_shows_its_labels_annotations_and_every_prediction(
    analyst_client: Client, analyst: Any, ml_admin: Any
) -> None:
    snapshot = make_snapshot()
    review_id = snapshot_test_review_ids(snapshot)[0]
    review = Review.objects.get(pk=review_id)
    run = make_run(snapshot)
    predict(run.model_version, review, 1, 0.81)
    Annotation.objects.create(review=review, user=analyst, label=1)
    Annotation.objects.create(review=review, user=ml_admin, label=0)
    Resolution.objects.create(review=review, label=0, method="settled", settled_by=ml_admin, reason="sarcasm")

    page = analyst_client.get(f"/reviews/{review.pk}/").content.decode()

    assert review.text in page
    assert "settled by mia" in page and "sarcasm" in page
    assert "<td>ana</td>" in page and "<td>mia</td>" in page
    assert "0.810" in page and "Batch job" in page
    assert f'href="/runs/{run.pk}/">Run {run.pk}</a>' in page and "test split of the run" in page
    assert "dashboard snapshot (test)" in page


def test_a_long_list_counts_up_to_the_cap_and_pages_on_without_a_total(
    analyst_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("apps.dashboard.views.reviews.COUNT_CAP", 10)
    made = Review.objects.bulk_create(
        Review(text=f"review number {n}", source="t", external_id=str(n)) for n in range(30)
    )
    newest_first = sorted((review.pk for review in made), reverse=True)

    def ids_on(query: str) -> list[int]:
        page = analyst_client.get(f"/reviews/?{query}").content.decode()
        return [int(pk) for pk in re.findall(r'<a href="/reviews/(\d+)/">#', page)]

    first = analyst_client.get("/reviews/").content.decode()

    assert "10+ reviews" in first and "Page 1<" in first and "Page 1 of" not in first
    assert "Next" in first and "Previous" not in first
    assert ids_on("") == newest_first[:25]
    last = analyst_client.get("/reviews/?page=2").content.decode()
    assert ids_on("page=2") == newest_first[25:]
    assert "Next" not in last and "Previous" in last
    # A common word: the same pages whether its first pages walk the newest reviews or not.
    assert ids_on("q=number") == newest_first[:25] and ids_on("q=number&page=2") == newest_first[25:]
    assert ids_on("page=9") == newest_first[:25], "past the end: the first page"
    assert ids_on("page=x") == newest_first[:25]
    # Under the cap the total is exact.
    assert "1 review<" in analyst_client.get("/reviews/?q=%22number+7%22").content.decode()
