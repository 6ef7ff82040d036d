"""Webhook deliveries, on the ``default`` queue, and the resender every worker runs for lost ones.

Thin: the task takes a delivery id and calls one service, which claims the attempt (so a redelivered
message sends nothing twice), sends it and, when it fails, queues the next attempt with its backoff.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.db import close_old_connections

from apps.webhooks.services import DELIVERY_TASK, webhook_deliveries_resend_overdue, webhook_delivery_attempt

logger = logging.getLogger(__name__)

RESEND_EVERY_SECONDS = 60.0
_resender_stop = threading.Event()


@shared_task(name=DELIVERY_TASK, acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: int) -> None:
    webhook_delivery_attempt(delivery_id=delivery_id)


@worker_ready.connect
def start_resender(**_: Any) -> None:
    """A delivery whose message was lost (a broker restart, a worker killed mid-attempt) is queued again."""
    _resender_stop.clear()
    threading.Thread(target=_resend_until_shutdown, name="webhook-resender", daemon=True).start()


@worker_shutdown.connect
def stop_resender(**_: Any) -> None:
    _resender_stop.set()


def _resend_until_shutdown() -> None:
    while not _resender_stop.wait(RESEND_EVERY_SECONDS):
        close_old_connections()
        try:
            if sent := webhook_deliveries_resend_overdue():
                logger.warning("Queued %s overdue webhook deliveries again.", sent)
        except Exception:  # the resender must outlive a database restart
            logger.exception("Queueing overdue webhook deliveries failed; trying again in %s s", RESEND_EVERY_SECONDS)
