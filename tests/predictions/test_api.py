"""POST /api/predict: answers, authentication, and an error body for every bad request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from apps.common.services import api_token_create
from apps.predictions.choices import PredictionSource
from apps.predictions.models import Prediction
from apps.registry.models import ModelVersion
from tests.predictions.conftest import NEGATIVE_REVIEW, POSITIVE_REVIEW, MakeVersion, make_current

pytestmark = pytest.mark.django_db

URL = "/api/predict"


def test_one_review_gets_its_label_confidence_probabilities_and_model_version(
    api_client: APIClient, make_version: MakeVersion, analyst: User
) -> None:
    version = make_version(current=True)

    response = api_client.post(URL, {"text": POSITIVE_REVIEW}, format="json")

    assert response.status_code == 200
    body = response.json()
    prediction = Prediction.objects.get()
    assert body["predictions"] == [
        {
            "label": "positive",
            "label_id": 1,
            "confidence": prediction.confidence,
            "probabilities": {"negative": prediction.prob_negative, "positive": prediction.prob_positive},
            "model_version": version.pk,
            "prediction_id": prediction.pk,
            # Only an ensemble names members.
            "members": [],
        }
    ]
    assert body["model_version"]["id"] == version.pk and body["model_version"]["kind"] == "tfidf"
    assert body["latency_ms"] == prediction.latency_ms
    assert (prediction.source, prediction.user) == (PredictionSource.API, analyst)


def test_a_list_of_reviews_is_answered_in_order(api_client: APIClient, make_version: MakeVersion) -> None:
    make_version(current=True)

    response = api_client.post(URL, {"texts": [POSITIVE_REVIEW, NEGATIVE_REVIEW, POSITIVE_REVIEW]}, format="json")

    assert response.status_code == 200
    assert [p["label"] for p in response.json()["predictions"]] == ["positive", "negative", "positive"]
    assert Prediction.objects.count() == 3


def test_the_next_request_after_a_promotion_is_answered_by_the_new_version(
    api_client: APIClient, make_version: MakeVersion, transformer_folder: Any
) -> None:
    old = make_version(current=True)
    new = make_version(transformer_folder)
    assert api_client.post(URL, {"text": POSITIVE_REVIEW}, format="json").json()["model_version"]["id"] == old.pk

    make_current(new)
    body = api_client.post(URL, {"text": POSITIVE_REVIEW}, format="json").json()

    assert body["model_version"]["id"] == new.pk and body["model_version"]["kind"] == "transformer"
    assert body["predictions"][0]["model_version"] == new.pk


def test_an_api_token_authenticates(make_version: MakeVersion, analyst: User) -> None:
    make_version(current=True)
    _, key = api_token_create(user=analyst, name="integration test")

    response = APIClient().post(URL, {"text": POSITIVE_REVIEW}, format="json", headers={"Authorization": f"Token {key}"})

    assert response.status_code == 200
    assert Prediction.objects.get().user == analyst


def test_without_credentials_the_answer_is_401(make_version: MakeVersion) -> None:
    make_version(current=True)

    response = APIClient().post(URL, {"text": POSITIVE_REVIEW}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert not Prediction.objects.exists()


def test_a_bad_token_is_refused(make_version: MakeVersion) -> None:
    make_version(current=True)

    response = APIClient().post(URL, {"text": POSITIVE_REVIEW}, format="json", headers={"Authorization": "Token nope"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_session_request_without_the_csrf_token_is_refused(make_version: MakeVersion, analyst: User) -> None:
    make_version(current=True)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(analyst)

    response = client.post(URL, {"text": POSITIVE_REVIEW}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    assert not Prediction.objects.exists()


def test_a_session_request_with_the_csrf_token_is_answered(make_version: MakeVersion, analyst: User) -> None:
    make_version(current=True)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(analyst)
    token = client.get("/predict/").cookies["csrftoken"].value

    response = client.post(URL, {"text": POSITIVE_REVIEW}, format="json", headers={"X-CSRFToken": token})

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"text": ""}, "text", "The review is empty"),
        ({"text": "  \n "}, "text", "The review is empty"),
        ({"text": "x" * 20_001}, "text", "the limit is 20,000"),
        ({"texts": [POSITIVE_REVIEW] * 65}, "texts", "at most 64 reviews per request (got 65)"),
        ({"texts": []}, "texts", "Send at least one review"),
        ({"texts": [POSITIVE_REVIEW, " "]}, "texts[1]", "The review is empty"),
        ({"texts": [POSITIVE_REVIEW, 42]}, "texts[1]", "must be a JSON string"),
        ({"texts": [None]}, "texts[0]", "may not be null"),
        ({"texts": POSITIVE_REVIEW}, "texts", "JSON list of strings"),
        ({"text": 42}, "text", "must be a JSON string"),
        ({"text": ["a list"]}, "text", "must be a JSON string"),
        ({}, "text", "Missing review"),
        ({"review": POSITIVE_REVIEW}, "text", "Missing review"),
        ({"text": POSITIVE_REVIEW, "texts": [POSITIVE_REVIEW]}, "texts", "either"),
        ([POSITIVE_REVIEW], "body", "Send a JSON object"),
    ],
)
def test_bad_input_gets_400_with_a_message_per_field(
    api_client: APIClient, make_version: MakeVersion, body: Any, field: str, message: str
) -> None:
    make_version(current=True)

    response = api_client.post(URL, body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]
    assert message in error["fields"][field]
    assert message in error["message"]
    assert not Prediction.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [b'{"text": "unclosed', b'{"text": "caf\xe9"}', b"", b"\xff\xfe{}", b"not json at all"],
    ids=["invalid-json", "invalid-utf8", "empty-body", "utf16-bom", "plain-text"],
)
def test_a_body_that_is_not_json_in_utf8_gets_400(api_client: APIClient, make_version: MakeVersion, raw: bytes) -> None:
    make_version(current=True)

    response = api_client.generic("POST", URL, raw, content_type="application/json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] in {"parse_error", "invalid"}
    assert error["message"]


def test_a_lone_surrogate_escape_gets_400_rather_than_failing_in_the_database(
    api_client: APIClient, make_version: MakeVersion
) -> None:
    make_version(current=True)

    response = api_client.generic("POST", URL, b'{"text": "fine \\ud800 film"}', content_type="application/json")

    assert response.status_code == 400
    assert "Surrogate characters are not allowed" in response.json()["error"]["fields"]["text"]
    assert not Prediction.objects.exists()


def test_a_form_encoded_body_is_refused_with_415(api_client: APIClient, make_version: MakeVersion) -> None:
    make_version(current=True)

    response = api_client.post(URL, {"text": POSITIVE_REVIEW})

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_before_any_promotion_the_answer_is_503_saying_what_to_do(api_client: APIClient, make_version: MakeVersion) -> None:
    make_version(current=False)

    response = api_client.post(URL, {"text": POSITIVE_REVIEW}, format="json")

    assert response.status_code == 503
    assert response.json() == {
        "error": {
            "code": "no_current_model",
            "message": "No model is current yet: an ML admin promotes one in Models/the admin.",
            "fields": {},
        }
    }


def test_a_current_version_whose_files_are_gone_gets_503(
    api_client: APIClient, make_version: MakeVersion
) -> None:
    version = make_version(current=True)
    ModelVersion.objects.filter(pk=version.pk).update(artifact_path="no-such-folder")

    response = api_client.post(URL, {"text": POSITIVE_REVIEW}, format="json")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "model_unavailable" and "Promote another version" in error["message"]


def test_get_is_not_allowed(api_client: APIClient) -> None:
    response = api_client.get(URL)

    assert response.status_code == 405
    assert json.loads(response.content)["error"]["code"] == "method_not_allowed"
