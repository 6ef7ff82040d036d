"""The prediction form at /predict/: with HTMX (the result fragment) and without JavaScript (the whole page)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.predictions.choices import PredictionSource
from apps.predictions.models import Prediction
from apps.reviews.models import DatasetSnapshot
from tests.predictions.conftest import POSITIVE_REVIEW, MakeVersion

pytestmark = pytest.mark.django_db

URL = "/predict/"


@pytest.fixture
def client(client: Client, analyst: User) -> Client:
    client.force_login(analyst)
    return client


def test_the_form_asks_anonymous_visitors_to_log_in(db: None) -> None:
    response = Client().get(URL)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={URL}"


def test_the_page_shows_the_form_and_is_linked_from_the_navigation(client: Client) -> None:
    response = client.get(URL)

    page = response.content.decode()
    assert response.status_code == 200
    assert '<textarea name="text"' in page and "Up to 20,000 characters." in page
    # A longer paste must reach the server and be refused there, not be cut by the browser unseen.
    assert "maxlength" not in page
    assert 'hx-post="/predict/"' in page and 'hx-target="#prediction-result"' in page
    assert f'<a href="{URL}">Predict</a>' in page


def test_without_javascript_a_post_renders_the_whole_page_with_the_result(
    client: Client, make_version: MakeVersion, analyst: User
) -> None:
    version = make_version(current=True)

    response = client.post(URL, {"text": POSITIVE_REVIEW})

    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" in page and "<textarea" in page
    assert 'class="positive">Positive<' in page
    assert f"v{version.pk} (tfidf)" in page
    assert " ms</td>" in page
    prediction = Prediction.objects.get()
    assert (prediction.source, prediction.user, prediction.text) == (PredictionSource.FORM, analyst, POSITIVE_REVIEW)
    assert f"{prediction.prob_positive:.4f}" in page and f"{prediction.prob_negative:.4f}" in page


def test_with_htmx_a_post_answers_with_the_result_fragment_only(client: Client, make_version: MakeVersion) -> None:
    make_version(current=True)

    response = client.post(URL, {"text": POSITIVE_REVIEW}, headers={"HX-Request": "true"})

    fragment = response.content.decode().strip()
    assert response.status_code == 200
    assert fragment.startswith('<section id="prediction-result"')
    assert "<html" not in fragment and "<textarea" not in fragment
    assert "Positive" in fragment


def test_the_echoed_review_is_escaped(client: Client, make_version: MakeVersion) -> None:
    make_version(current=True)

    response = client.post(URL, {"text": "<script>alert('boo')</script> wonderful"}, headers={"HX-Request": "true"})

    fragment = response.content.decode()
    assert "<script>" not in fragment
    assert "&lt;script&gt;alert(&#x27;boo&#x27;)&lt;/script&gt; wonderful" in fragment


def test_an_empty_review_gets_a_message_and_no_prediction(client: Client, make_version: MakeVersion) -> None:
    make_version(current=True)

    response = client.post(URL, {"text": "   "}, headers={"HX-Request": "true"})

    assert "The review is empty: type or paste the text of a review." in response.content.decode()
    assert not Prediction.objects.exists()


def test_a_review_over_the_limit_gets_a_message(client: Client, make_version: MakeVersion) -> None:
    make_version(current=True)

    response = client.post(URL, {"text": "a" * 20_001})

    assert "The review is 20001 characters long; the limit is 20,000." in response.content.decode()
    assert not Prediction.objects.exists()


def test_before_any_promotion_the_page_says_how_to_get_a_model(client: Client, make_version: MakeVersion) -> None:
    make_version(current=False)

    for headers in ({}, {"HX-Request": "true"}):
        response = client.post(URL, {"text": POSITIVE_REVIEW}, headers=headers)
        assert "No model is current yet: an ML admin promotes one in Models/the admin." in response.content.decode()
    assert not Prediction.objects.exists()


def test_an_answer_from_the_tfidf_screen_says_so(
    client: Client, make_version: MakeVersion, transformer_folder: Any, settings: Any
) -> None:
    settings.PREDICTION_SCREEN_CONFIDENCE = 0.6
    snapshot = DatasetSnapshot.objects.create(name="screened", content_hash="3" * 64)
    screen = make_version(snapshot=snapshot)
    current = make_version(transformer_folder, snapshot=snapshot, current=True)

    response = client.post(URL, {"text": POSITIVE_REVIEW}, headers={"HX-Request": "true"})

    page = response.content.decode()
    assert f"v{screen.pk} (tfidf)" in page
    assert f"(the TF-IDF screen of the current v{current.pk} (transformer): sure enough to answer alone)" in page
