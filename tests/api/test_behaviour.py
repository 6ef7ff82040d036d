"""What clients can count on: cursor pages, idempotency keys, rate limits with Retry-After, ETags for polling."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.predictions.models import Prediction
from apps.reviews.models import Review
from apps.training.models import TrainingRun
from tests.api.conftest import World

pytestmark = pytest.mark.django_db


# --- Pagination ------------------------------------------------------------------------------------------


def test_following_next_walks_every_review_once_newest_first_even_while_new_ones_arrive(world: World) -> None:
    client = world.client("analyst")
    expected = list(Review.objects.order_by("-pk").values_list("pk", flat=True))
    seen: list[int] = []
    url: str | None = "/api/reviews/?page_size=7"
    pages = 0
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
        pages += 1
        if pages == 2:
            Review.objects.create(text="Arrived while paging.", source="late", external_id="1")

    assert seen == expected
    assert pages == -(-len(expected) // 7)


def test_previous_leads_back_and_the_page_size_is_capped(world: World) -> None:
    client = world.client("analyst")
    first = client.get("/api/reviews/", {"page_size": 5}).json()
    second = client.get(first["next"]).json()
    back = client.get(second["previous"]).json()
    capped = client.get("/api/reviews/", {"page_size": 100_000}).json()

    assert first["previous"] is None
    assert [row["id"] for row in back["results"]] == [row["id"] for row in first["results"]]
    assert len(capped["results"]) == Review.objects.count() <= 500


@pytest.mark.parametrize("cursor", ["not-base64!", "cD1hYmM="])
def test_a_cursor_the_api_did_not_give_out_is_a_400(world: World, cursor: str) -> None:
    response = world.client("analyst").get("/api/reviews/", {"cursor": cursor})

    assert response.status_code == 400
    assert "cursor" in response.json()["error"]["fields"]


# --- Idempotency keys ------------------------------------------------------------------------------------


def test_a_retried_run_creation_with_the_same_key_queues_one_run_and_replays_the_answer(world: World) -> None:
    client = world.client("ml_admin")
    body = {"snapshot": world.snapshot.pk, "kind": "tfidf"}
    headers = {"Idempotency-Key": "run-2025-05-01"}

    first = client.post("/api/training-runs/", body, format="json", headers=headers)
    retry = client.post("/api/training-runs/", body, format="json", headers=headers)

    assert first.status_code == retry.status_code == 202
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert retry["Location"] == first["Location"]
    assert TrainingRun.objects.exclude(pk=world.run.pk).count() == 1


def test_the_same_key_with_another_body_is_refused_and_keys_belong_to_their_user(world: World) -> None:
    headers = {"Idempotency-Key": "batch-7"}
    client = world.client("ml_admin")
    client.post("/api/reviews/bulk/", {"reviews": [{"text": "One."}]}, format="json", headers=headers)

    other_body = client.post("/api/reviews/bulk/", {"reviews": [{"text": "Two."}]}, format="json", headers=headers)
    other_user = world.client("integration").post(
        "/api/reviews/bulk/", {"reviews": [{"text": "Two."}]}, format="json", headers=headers
    )

    assert other_body.status_code == 422
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"
    assert other_user.status_code == 201 and "Idempotent-Replayed" not in other_user
    assert set(Review.objects.filter(source="api").values_list("text", flat=True)) == {"One.", "Two."}


def test_a_failed_request_is_not_remembered_so_the_corrected_one_goes_through_with_the_same_key(world: World) -> None:
    client = world.client("ml_admin")
    headers = {"Idempotency-Key": "eval-1"}

    failed = client.post("/api/evaluation-runs/", {"model_version": 999}, format="json", headers=headers)
    fixed = client.post("/api/evaluation-runs/", {"model_version": world.version.pk}, format="json", headers=headers)

    assert failed.status_code == 400 and fixed.status_code == 202


def test_a_malformed_key_is_refused(world: World) -> None:
    response = world.client("ml_admin").post(
        "/api/training-runs/", {"snapshot": world.snapshot.pk}, format="json", headers={"Idempotency-Key": "has space"}
    )

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]


def test_a_remembered_key_expires(world: World, settings: Any) -> None:
    client = world.client("integration")
    headers = {"Idempotency-Key": "bulk-9"}
    client.post("/api/reviews/bulk/", {"reviews": [{"text": "One."}]}, format="json", headers=headers)
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 0

    later = client.post("/api/reviews/bulk/", {"reviews": [{"text": "Two."}]}, format="json", headers=headers)

    assert later.status_code == 201 and "Idempotent-Replayed" not in later


@pytest.mark.django_db(transaction=True)
def test_two_copies_of_a_request_sent_at_once_queue_one_run(world: World) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    key = world.keys["ml_admin"]
    body = {"snapshot": world.snapshot.pk, "kind": "tfidf"}
    barrier = threading.Barrier(3)
    answers: list[Any] = []

    def send() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        barrier.wait()
        try:
            answers.append(client.post("/api/training-runs/", body, format="json", headers={"Idempotency-Key": "race"}))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(answer.status_code for answer in answers) == [202, 202, 202]
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert TrainingRun.objects.exclude(pk=world.run.pk).count() == 1


# --- Rate limits -----------------------------------------------------------------------------------------


def test_predictions_over_the_rate_get_429_with_retry_after(world: World, settings: Any) -> None:
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "predict": "2/minute"}
    client = world.client("integration")

    answers = [client.post("/api/predict", {"text": "A brilliant film."}, format="json") for _ in range(3)]
    other_user = world.client("analyst").post("/api/predict", {"text": "A brilliant film."}, format="json")

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert 0 < int(answers[2]["Retry-After"]) <= 60
    assert answers[2].json()["error"]["code"] == "throttled"
    assert other_user.status_code == 200
    assert Prediction.objects.filter(user=world.users["integration"]).count() == 2


def test_bulk_writes_are_limited_but_reading_is_not(world: World, settings: Any) -> None:
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "bulk": "1/hour"}
    client = world.client("ml_admin")

    first = client.post("/api/reviews/bulk/", {"reviews": [{"text": "One."}]}, format="json")
    second = client.post("/api/reviews/bulk/", {"reviews": [{"text": "Two."}]}, format="json")
    reads = [client.get("/api/imports/").status_code for _ in range(3)]

    assert (first.status_code, second.status_code) == (201, 429)
    assert int(second["Retry-After"]) > 60
    assert reads == [200, 200, 200]


def test_signing_in_for_a_token_is_limited_per_address(world: World, settings: Any) -> None:
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "login": "2/minute"}
    client = APIClient()
    wrong = {"username": "analyst", "password": "guess"}

    answers = [client.post("/api/auth/token/", wrong, format="json").status_code for _ in range(3)]

    assert answers == [400, 400, 429]


# --- ETags -----------------------------------------------------------------------------------------------


def test_polling_with_the_etag_answers_304_until_the_run_changes(world: World) -> None:
    client = world.client("integration")
    url = f"/api/training-runs/{world.run.pk}/"
    first = client.get(url)

    unchanged = client.get(url, headers={"If-None-Match": first["ETag"]})
    TrainingRun.objects.filter(pk=world.run.pk).update(status="running", current_step=5, total_steps=10)
    changed = client.get(url, headers={"If-None-Match": first["ETag"]})

    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged["ETag"] == first["ETag"]
    assert changed.status_code == 200 and changed["ETag"] != first["ETag"]
    assert changed.json()["progress_percent"] == 50.0 and changed.json()["updated_at"]
    assert "private" in changed["Cache-Control"] and "Authorization" in changed["Vary"]


def test_every_api_get_has_an_etag_the_labelling_api_included(world: World) -> None:
    client = world.client("analyst")
    queues = client.get("/api/labelling/queues/")

    again = client.get("/api/labelling/queues/", headers={"If-None-Match": queues["ETag"]})

    assert queues.status_code == 200 and again.status_code == 304


@pytest.mark.parametrize(
    "path", ["/api/training-runs/?status=", "/api/reviews/?gold_label=", "/api/predictions/?source=", "/api/batch-predictions/?status="]
)
def test_a_filter_given_with_no_value_is_refused_instead_of_answering_everything(world: World, path: str) -> None:
    answer = world.client("ml_admin").get(path)

    assert answer.status_code == 400
    name = path.rsplit("?", 1)[1].rstrip("=")
    assert "Give this parameter a value" in answer.json()["error"]["fields"][name]
