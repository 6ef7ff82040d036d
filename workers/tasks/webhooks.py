"""Webhook deliveries, on the ``default`` queue.

Thin: the task takes a delivery id and calls one service, which claims the attempt (so a redelivered
message sends nothing twice), sends it and, when it fails, queues the next attempt with its backoff.
"""

from __future__ import annotations

from celery import shared_task

from apps.webhooks.services import webhook_delivery_attempt


@shared_task(name="webhooks.deliver", acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: int) -> None:
    webhook_delivery_attempt(delivery_id=delivery_id)
