"""A real Celery worker process delivers a webhook: the event is committed, the task crosses the broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from standardwebhooks import Webhook
from django.db import connections

from apps.training.models import TrainingRun
from apps.webhooks.choices import DeliveryStatus
from apps.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.conftest import start_worker, wait_until, worker_environment
from tests.registry.factories import SnapshotFactory
from tests.webhooks.conftest import SECRET, Receiver

QUEUE = "webhooks-test"


@pytest.mark.django_db(transaction=True)
def test_a_worker_delivers_the_event_of_a_finished_run(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = connections["default"].settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql" or not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("the worker tests run on PostgreSQL and Redis: use `make test`")
    # A queue of its own, so the suite's shared worker (which refuses loopback receivers) never takes it.
    monkeypatch.setattr("apps.webhooks.services.DELIVERY_QUEUE", QUEUE)
    worker = start_worker(
        env=worker_environment(
            DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
            WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
        ),
        log_path=tmp_path / "worker.log",
        queues=QUEUE,
        name="webhooks",
    )
    try:
        subscription = WebhookSubscription.objects.create(
            name="receiver", url=receiver.url, secret=SECRET, events=["training_run.finished"]
        )
        run = TrainingRun.objects.create(snapshot=SnapshotFactory(), kind="tfidf")
        run.mark_cancelled()

        delivered = wait_until(
            lambda: WebhookDelivery.objects.filter(subscription=subscription, status=DeliveryStatus.SUCCEEDED).first(),
            timeout=60,
            what=f"the worker to deliver the webhook; its log:\n{worker.log()}",
        )
    finally:
        worker.stop()

    (request,) = receiver.requests
    body: Any = request.json()
    assert body["data"]["training_run"] == {**body["data"]["training_run"], "id": run.pk, "status": "cancelled"}
    assert Webhook(SECRET.encode()).verify(request.body, dict(request.headers)) == body
    assert delivered.attempts == 1
