"""Webhook events: sent once per event and subscriber, signed with HMAC-SHA256, retried with backoff, logged."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from apps.common.choices import JobStatus
from apps.registry.services import model_version_promote
from apps.reviews.services import review_import
from apps.training.models import EvaluationRun, TrainingRun
from apps.webhooks.choices import DeliveryStatus
from apps.webhooks.models import WebhookDelivery, WebhookSubscription
from apps.webhooks.services import (
    retry_delay,
    sign,
    webhook_deliveries_resend_overdue,
    webhook_delivery_attempt,
    webhook_event_emit,
    webhook_subscription_create,
    webhook_subscription_update,
)
from tests.registry.factories import SnapshotFactory, make_version, train_tfidf_artifact
from tests.webhooks.conftest import SECRET, Receiver

pytestmark = pytest.mark.django_db


def emit(**data: Any) -> WebhookDelivery:
    (delivery,) = webhook_event_emit(event="training_run.finished", key="training_run:1", data=data or {"x": 1})
    return delivery


def make_due(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


@pytest.fixture(scope="module")
def tfidf_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tfidf_artifact(tmp_path_factory.mktemp("webhooks-tfidf"))


# --- Signing ---------------------------------------------------------------------------------------------


def test_a_delivery_is_a_signed_json_post_the_receiver_can_verify(
    receiver: Receiver, subscription: WebhookSubscription, sent_tasks: list[Any]
) -> None:
    delivery = emit(training_run={"id": 1, "status": "succeeded"})

    result = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert result is not None and result.attempted and result.retry_in is None
    (request,) = receiver.requests
    headers = request.headers
    assert request.path == "/hooks/sentiment?team=ml"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Webhook-Event"] == "training_run.finished"
    assert headers["webhook-id"] == str(delivery.event_id)
    assert abs(time.time() - int(headers["webhook-timestamp"])) < 60
    # What a receiver does, with the spec's own package.
    assert Webhook(SECRET.encode()).verify(request.body, dict(headers)) == request.json()
    body = request.json()
    assert body["event"] == "training_run.finished" and body["id"] == str(delivery.event_id)
    assert body["data"] == {"training_run": {"id": 1, "status": "succeeded"}}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == (DeliveryStatus.SUCCEEDED, 1, 200)
    assert delivery.delivered_at is not None and "attempt 1: delivered (200)" in delivery.attempt_log


def test_the_signature_covers_the_id_the_timestamp_and_the_body() -> None:
    base = sign(secrets=["s" * 20], msg_id="msg-1", timestamp=1_700_000_000, body=b'{"a":1}')

    assert base.startswith("v1,")
    assert base != sign(secrets=["t" * 20], msg_id="msg-1", timestamp=1_700_000_000, body=b'{"a":1}')
    assert base != sign(secrets=["s" * 20], msg_id="msg-2", timestamp=1_700_000_000, body=b'{"a":1}')
    assert base != sign(secrets=["s" * 20], msg_id="msg-1", timestamp=1_700_000_001, body=b'{"a":1}')
    assert base != sign(secrets=["s" * 20], msg_id="msg-1", timestamp=1_700_000_000, body=b'{"a":2}')


def test_a_captured_delivery_replayed_under_another_id_fails_verification(
    receiver: Receiver, subscription: WebhookSubscription, sent_tasks: list[Any]
) -> None:
    webhook_delivery_attempt(delivery_id=emit(training_run={"id": 1, "status": "succeeded"}).pk)
    (request,) = receiver.requests
    replayed = {**dict(request.headers), "webhook-id": "another-id"}

    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET.encode()).verify(request.body, replayed)


def test_a_generated_secret_is_a_standard_whsec_secret_receivers_use_as_it_is(
    receiver: Receiver, sent_tasks: list[Any]
) -> None:
    made = webhook_subscription_create(name="std", url=receiver.url, events=["training_run.finished"])
    assert made.secret.startswith("whsec_")

    webhook_delivery_attempt(delivery_id=emit(training_run={"id": 2, "status": "failed"}).pk)

    (request,) = receiver.requests
    assert Webhook(made.secret).verify(request.body, dict(request.headers))["data"]["training_run"]["id"] == 2


def test_after_a_secret_change_both_secrets_verify_until_the_rotation_period_ends(
    receiver: Receiver, subscription: WebhookSubscription, sent_tasks: list[Any], settings: Any
) -> None:
    settings.WEBHOOK_SECRET_ROTATION_HOURS = 24
    webhook_subscription_update(subscription=subscription, secret="the-new-secret-after-rotation")

    for run_id in (3, 4):
        (delivery,) = webhook_event_emit(event="training_run.finished", key=f"training_run:{run_id}", data={})
        webhook_delivery_attempt(delivery_id=delivery.pk)
        # The rotation period ends between the two deliveries.
        subscription.previous_secret_expires_at = timezone.now() - timedelta(seconds=1)
        subscription.save()

    during, after = receiver.requests
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(SECRET.encode()).verify(during.body, dict(during.headers))
    Webhook(b"the-new-secret-after-rotation").verify(during.body, dict(during.headers))
    Webhook(b"the-new-secret-after-rotation").verify(after.body, dict(after.headers))
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET.encode()).verify(after.body, dict(after.headers))


# --- Retries ---------------------------------------------------------------------------------------------


def test_a_failed_attempt_is_retried_later_with_backoff_until_it_is_delivered(
    receiver: Receiver,
    subscription: WebhookSubscription,
    sent_tasks: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    receiver.answers = [503, 500]
    delivery = emit()

    with django_capture_on_commit_callbacks(execute=True):
        first = webhook_delivery_attempt(delivery_id=delivery.pk)
    early = webhook_delivery_attempt(delivery_id=delivery.pk)
    make_due(delivery)
    with django_capture_on_commit_callbacks(execute=True):
        second = webhook_delivery_attempt(delivery_id=delivery.pk)
    make_due(delivery)
    third = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert first is not None and first.retry_in == 30.0
    assert early is not None and not early.attempted
    assert second is not None and second.retry_in == 60.0
    assert third is not None and third.attempted and third.retry_in is None
    assert [call["countdown"] for call in sent_tasks] == [30.0, 60.0]
    assert {call["queue"] for call in sent_tasks} == {"default"}
    assert len(receiver.requests) == 3
    assert len({request.headers["webhook-id"] for request in receiver.requests}) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 3)
    log = delivery.attempt_log.splitlines()
    assert "attempt 1: failed: HTTP 503 Service Unavailable; next try in 30 s" in log[0]
    assert "attempt 2: failed: HTTP 500 Internal Server Error; next try in 60 s" in log[1]
    assert "attempt 3: delivered (200)" in log[2]


def test_backoff_doubles_from_the_base_and_stops_at_the_longest_delay(settings: Any) -> None:
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.WEBHOOK_RETRY_MAX_SECONDS = 3600

    assert [retry_delay(attempt) for attempt in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_after_the_last_attempt_the_delivery_fails_for_good(
    receiver: Receiver, subscription: WebhookSubscription, sent_tasks: list[Any], settings: Any
) -> None:
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    receiver.answers = [500, 500, 500]
    delivery = emit()

    webhook_delivery_attempt(delivery_id=delivery.pk)
    make_due(delivery)
    last = webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    failed = (delivery.status, delivery.attempts, delivery.next_attempt_at)
    make_due(delivery)
    after = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert last is not None and last.retry_in is None
    assert failed == (DeliveryStatus.FAILED, 2, None)
    assert after is not None and not after.attempted
    assert len(receiver.requests) == 2
    assert "no attempts left" in last.delivery.attempt_log


@pytest.mark.parametrize(
    ("answer", "error"),
    [((2.0, 200), "timed out"), (302, "redirects are not followed")],
    ids=["timeout", "redirect"],
)
def test_a_slow_receiver_or_a_redirect_counts_as_a_failure(
    receiver: Receiver, subscription: WebhookSubscription, sent_tasks: list[Any], settings: Any, answer: Any, error: str
) -> None:
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    receiver.answers = [answer]
    receiver.headers = {"Location": "http://169.254.169.254/"}
    delivery = emit()

    result = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert result is not None and result.retry_in is not None
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and error in delivery.error
    assert len(receiver.requests) == 1


def test_a_url_that_now_reaches_a_refused_address_is_not_called(
    receiver: Receiver, subscription: WebhookSubscription, sent_tasks: list[Any], settings: Any
) -> None:
    delivery = emit()
    settings.WEBHOOK_ALLOWED_NETWORKS = []

    webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert receiver.requests == []
    assert "loopback" in delivery.error and delivery.attempts == 1


def test_a_delivery_whose_message_was_lost_is_queued_again_and_still_sent_once(
    receiver: Receiver,
    subscription: WebhookSubscription,
    sent_tasks: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    lost, due = emit(), webhook_event_emit(event="import.finished", key="import:1", data={})[0]
    WebhookDelivery.objects.filter(pk=lost.pk).update(next_attempt_at=timezone.now() - timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        resent = webhook_deliveries_resend_overdue()
    for call in sent_tasks:
        webhook_delivery_attempt(delivery_id=call["args"][0])
        webhook_delivery_attempt(delivery_id=call["args"][0])

    assert resent == 1 and [call["args"] for call in sent_tasks] == [[lost.pk]]
    assert len(receiver.requests) == 1
    lost.refresh_from_db()
    due.refresh_from_db()
    assert lost.status == DeliveryStatus.SUCCEEDED and due.status == DeliveryStatus.PENDING


# --- Events ----------------------------------------------------------------------------------------------


def test_a_finished_training_run_is_announced_once_to_its_subscribers_only(
    receiver: Receiver,
    subscription: WebhookSubscription,
    sent_tasks: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    other = WebhookSubscription.objects.create(
        name="other", url=receiver.url, secret=SECRET, events=["import.finished"]
    )
    paused = WebhookSubscription.objects.create(
        name="paused", url=receiver.url, secret=SECRET, events=["training_run.finished"], is_active=False
    )
    run = TrainingRun.objects.create(snapshot=SnapshotFactory(), kind="tfidf")

    with django_capture_on_commit_callbacks(execute=True):
        run.mark_running(worker="w1")
        run.mark_failed("out of memory")
        run.append_log("more\n")
        run.save()

    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.subscription == subscription and delivery.event_key == f"training_run:{run.pk}"
    data = delivery.payload["data"]
    assert data["training_run"]["status"] == "failed" and data["training_run"]["error"] == "out of memory"
    assert data["path"] == f"/api/training-runs/{run.pk}/"
    assert [call["args"] for call in sent_tasks] == [[delivery.pk]]
    assert not other.deliveries.exists() and not paused.deliveries.exists()


def test_an_evaluation_an_import_and_a_promotion_are_announced(
    receiver: Receiver, subscription: WebhookSubscription, sent_tasks: list[Any], tfidf_artifact: Path, tmp_path: Path
) -> None:
    version = make_version(tfidf_artifact)
    evaluation = EvaluationRun.objects.create(model_version=version)
    evaluation.mark_running()
    evaluation.mark_cancelled()
    csv = tmp_path / "reviews.csv"
    csv.write_text("review,sentiment\nA fine film.,positive\n", encoding="utf-8")
    review_import(source=str(csv))
    model_version_promote(version=version, by=None, reason="first")

    events = dict(WebhookDelivery.objects.values_list("event", "payload"))
    assert set(events) == {"evaluation_run.finished", "import.finished", "model_version.promoted"}
    assert events["evaluation_run.finished"]["data"]["evaluation_run"]["status"] == JobStatus.CANCELLED
    assert events["import.finished"]["data"]["import"]["rows_created"] == 1
    promoted = events["model_version.promoted"]["data"]
    assert promoted["promotion"]["to_version"] == version.pk and promoted["model_version"]["id"] == version.pk


def test_an_event_in_a_transaction_that_rolls_back_sends_nothing(
    receiver: Receiver,
    subscription: WebhookSubscription,
    sent_tasks: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django.db import transaction

    run = TrainingRun.objects.create(snapshot=SnapshotFactory(), kind="tfidf")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            run.mark_cancelled()
            raise RuntimeError("the request failed after all")

    assert not WebhookDelivery.objects.exists() and sent_tasks == []
