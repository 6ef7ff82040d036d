"""What an integrator who reads only /api/docs/ does: with a token, from reviews to a promoted model's predictions.

Every step is an API request; the one thing the API hands to a worker, the training run, is executed the
way a worker executes it, in this process.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.common.roles import INTEGRATION, ML_ADMIN
from apps.training.runners import training_run_execute
from apps.webhooks.models import WebhookDelivery
from tests.api.conftest import PASSWORD
from tests.brokering import stand_in_for_task
from tests.registry.factories import UserFactory, review_text

pytestmark = pytest.mark.django_db


def test_an_integrator_goes_from_reviews_to_predictions_of_the_model_it_trained_and_promoted(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    queued: list[int] = []
    stand_in_for_task(monkeypatch, "training.run_training", lambda **kw: queued.append(kw["args"][0]))
    stand_in_for_task(monkeypatch, "webhooks.deliver", lambda **kw: None)
    UserFactory(username="pipeline", roles=[ML_ADMIN, INTEGRATION])
    api = APIClient()

    # A token, from the user name and password.
    signed_in = api.post(
        "/api/auth/token/", {"username": "pipeline", "password": PASSWORD, "name": "CI"}, format="json"
    )
    api.credentials(HTTP_AUTHORIZATION=f"Token {signed_in.json()['key']}")

    # Be told when runs finish.
    hook = api.post(
        "/api/webhooks/",
        {"name": "CI", "url": "https://93.184.216.34/hooks", "events": ["training_run.finished"]},
        format="json",
    )

    # Reviews in, frozen into a snapshot.
    rng = random.Random(11)
    reviews = [
        {"text": review_text(n % 2, rng), "external_id": f"r{n}", "gold_label": ["negative", "positive"][n % 2]}
        for n in range(80)
    ]
    stored = api.post("/api/reviews/bulk/", {"source": "crm", "reviews": reviews}, format="json")
    snapshot = api.post("/api/snapshots/", {"name": "crm", "seed": 1}, format="json").json()

    # A run queued once, however often the request is retried.
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            run = api.post(
                "/api/training-runs/",
                {"snapshot": snapshot["id"], "kind": "tfidf"},
                format="json",
                headers={"Idempotency-Key": "ci-build-42"},
            )
    (run_id,) = queued
    training_run_execute(run_id=run_id, worker="test-worker")  # what the worker does

    # Followed until it is done, cheaply while nothing changes.
    followed = api.get(run["Location"])
    unchanged = api.get(run["Location"], headers={"If-None-Match": followed["ETag"]})
    result = followed.json()

    # Its model promoted, then answering predictions.
    promoted = api.post(f"/api/models/{result['model_version']}/promote/", {"reason": "CI build 42"}, format="json")
    card = api.get(f"/api/models/{result['model_version']}/card/").json()
    prediction = api.post("/api/predict", {"text": "The acting was superb and the ending brilliant."}, format="json")

    assert signed_in.status_code == 201 and hook.status_code == 201
    assert stored.status_code == 201 and stored.json()["created"] == 80
    assert snapshot["train_count"] + snapshot["validation_count"] + snapshot["test_count"] == 80
    assert run.status_code == 202 and run["Idempotent-Replayed"] == "true" and run.json()["id"] == run_id
    assert result["status"] == "succeeded" and result["accuracy"] is not None
    assert len(result["confusion_matrix"]) == 2 and sum(map(sum, result["confusion_matrix"])) == snapshot["test_count"]
    assert unchanged.status_code == 304
    assert promoted.status_code == 200 and promoted.json()["current"]["id"] == result["model_version"]
    assert card["lineage"]["snapshot_content_hash"] == snapshot["content_hash"]
    answer = prediction.json()
    assert prediction.status_code == 200 and answer["model_version"]["id"] == result["model_version"]
    assert answer["predictions"][0]["label"] == "positive"
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "training_run.finished" and delivery.payload["data"]["training_run"]["id"] == run_id
