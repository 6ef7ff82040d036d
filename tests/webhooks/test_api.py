"""Webhook subscribers and their delivery log through the API (ML admins only)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.common.roles import ML_ADMIN
from apps.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.registry.factories import UserFactory
from tests.webhooks.conftest import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(username="mladmin", roles=[ML_ADMIN]))
    return client


def test_subscribing_answers_the_generated_secret_once(api: APIClient, receiver: Receiver) -> None:
    made = api.post(
        "/api/webhooks/",
        {"name": "CI", "url": receiver.url, "events": ["model_version.promoted", "training_run.finished"]},
        format="json",
    )
    read = api.get(made["Location"])

    assert made.status_code == 201
    subscription = WebhookSubscription.objects.get()
    assert made.json()["secret"] == subscription.secret and len(subscription.secret) >= 40
    assert made.json()["events"] == ["training_run.finished", "model_version.promoted"]
    assert "secret" not in read.json()


def test_a_subscriber_created_inactive_stays_inactive(api: APIClient, receiver: Receiver) -> None:
    made = api.post(
        "/api/webhooks/",
        {"name": "Later", "url": receiver.url, "events": ["training_run.finished"], "is_active": False},
        format="json",
    )

    assert made.status_code == 201 and made.json()["is_active"] is False
    assert WebhookSubscription.objects.get().is_active is False


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"url": "http://169.254.169.254/latest/"}, "url", "link-local"),
        ({"url": "http://10.0.0.1/hook"}, "url", "private"),
        ({"events": ["run.started"]}, "events[0]", "is not a valid choice"),
        ({"events": []}, "events", "at least 1"),
        ({"secret": "short"}, "secret", "at least 16"),
        ({"url": "https://bücher.example/hook"}, "url", "ASCII form"),
        ({"url": "ftp://ci.example.com/hook"}, "url", "http:// or https://"),
    ],
)
def test_a_bad_subscriber_is_refused_field_by_field(
    api: APIClient, receiver: Receiver, body: dict[str, Any], field: str, message: str
) -> None:
    request = {"name": "x", "url": receiver.url, "events": ["import.finished"], **body}

    response = api.post("/api/webhooks/", request, format="json")

    assert response.status_code == 400
    assert message in response.json()["error"]["fields"][field]
    assert not WebhookSubscription.objects.exists()


def test_a_subscriber_is_changed_paused_and_deleted(api: APIClient, subscription: WebhookSubscription) -> None:
    url = f"/api/webhooks/{subscription.pk}/"

    changed = api.patch(url, {"events": ["import.finished"], "is_active": False}, format="json")
    refused = api.patch(url, {"url": "http://192.168.0.1/"}, format="json")
    deleted = api.delete(url)

    assert changed.json()["events"] == ["import.finished"] and changed.json()["is_active"] is False
    assert refused.status_code == 400 and "private" in refused.json()["error"]["fields"]["url"]
    assert deleted.status_code == 204 and not WebhookSubscription.objects.exists()


def test_a_ping_is_queued_and_the_delivery_log_shows_it(
    api: APIClient, subscription: WebhookSubscription, sent_tasks: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        ping = api.post(f"/api/webhooks/{subscription.pk}/ping/")
    log = api.get(f"/api/webhooks/{subscription.pk}/deliveries/", {"event": "ping"}).json()["results"]
    none_failed = api.get(f"/api/webhooks/{subscription.pk}/deliveries/", {"status": "failed"}).json()["results"]

    assert ping.status_code == 202 and ping.json()["status"] == "pending"
    delivery = WebhookDelivery.objects.get()
    assert [row["id"] for row in log] == [delivery.pk] and none_failed == []
    assert sent_tasks == [{"args": [delivery.pk], "countdown": 0, "queue": "default"}]
