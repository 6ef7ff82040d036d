"""Webhooks: subscribers, the events sent to them, and delivery with signatures and retries.

An event (``webhook_event_emit``) becomes one ``WebhookDelivery`` per active subscriber of it, written
in the transaction that made the event happen and sent by a worker on the ``default`` queue once it
commits. Each attempt POSTs the JSON payload signed as the Standard Webhooks spec has it
(https://www.standardwebhooks.com), so a receiver verifies with its ``standardwebhooks`` package in
any language:

- ``webhook-id``: the event's id (the same for every subscriber, and on every retry: use it to ignore a
  delivery you have already handled); ``X-Webhook-Event``: the event name;
- ``webhook-timestamp``: Unix seconds when the attempt was signed (receivers refuse ones over 5 minutes off);
- ``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of ``"{id}.{timestamp}.{body}"``, keyed with the
  subscriber's secret; while a replaced secret still lasts (WEBHOOK_SECRET_ROTATION_HOURS after the change),
  a second ``v1,...`` signed with it follows, space-separated, so receivers can switch secrets without a gap.

A secret ``whsec_<base64>`` keys with its decoded bytes, as the spec's; any other secret keys with its UTF-8
bytes. Generated secrets are ``whsec_`` ones.

An answer in 2xx delivers it. Anything else (an error status, a timeout, a refused connection, a
redirect) is retried after WEBHOOK_RETRY_BASE_SECONDS, doubling each time up to WEBHOOK_RETRY_MAX_SECONDS,
until WEBHOOK_MAX_ATTEMPTS attempts; then the delivery is failed. Every attempt is logged on the row.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks import Webhook

from apps.common import broker
from apps.webhooks.choices import SUBSCRIBABLE_EVENTS, DeliveryStatus, WebhookEvent
from apps.webhooks.models import WebhookDelivery, WebhookSubscription
from apps.webhooks.targets import TargetRefused, check_target, connection_to

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# The Celery task that attempts a delivery (workers.tasks.webhooks), sent by name, and its queue.
DELIVERY_TASK = "webhooks.deliver"
DELIVERY_QUEUE = "default"
SIGNATURE_HEADER = "webhook-signature"
TIMESTAMP_HEADER = "webhook-timestamp"
ID_HEADER = "webhook-id"
EVENT_HEADER = "X-Webhook-Event"
SECRET_PREFIX = "whsec_"
RESPONSE_EXCERPT_CHARS = 2_000
SECRET_BYTES = 32
MIN_SECRET_LENGTH = 16
ATTEMPT_LOG_CHARS = 10_000
# A pending delivery this late (past its due time or the lease of an attempt in flight) is queued again.
RESEND_AFTER_SECONDS = 600
RESEND_BATCH = 500


class WebhookError(ValueError):
    """A subscriber cannot be saved as asked; ``errors`` holds one message per field."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(f"{field}: {message}" for field, message in self.errors.items()))


# --- Subscribers -----------------------------------------------------------------------------------------


def webhook_subscription_create(
    *,
    name: str,
    url: str,
    events: list[str],
    secret: str | None = None,
    is_active: bool = True,
    created_by: User | None = None,
) -> WebhookSubscription:
    """A new subscriber of ``events`` at ``url``; without a ``secret`` one is generated (read it back once, from the row)."""
    secret = secret if secret is not None else new_secret()
    errors = _subscription_errors(name=name, url=url, events=events, secret=secret)
    if errors:
        raise WebhookError(errors)
    return WebhookSubscription.objects.create(
        name=name.strip(),
        url=url.strip(),
        events=_ordered(events),
        secret=secret,
        is_active=is_active,
        created_by=created_by,
    )


def new_secret() -> str:
    """A random secret in the Standard Webhooks form: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def webhook_subscription_update(*, subscription: WebhookSubscription, **changes: Any) -> WebhookSubscription:
    """Change a subscriber's ``name``, ``url``, ``events``, ``secret`` or ``is_active``; the URL is checked again."""
    unknown = set(changes) - {"name", "url", "events", "secret", "is_active"}
    if unknown:
        raise WebhookError({name: "This cannot be changed." for name in sorted(unknown)})
    merged = {
        "name": changes.get("name", subscription.name),
        "url": changes.get("url", subscription.url),
        "events": changes.get("events", subscription.events),
        "secret": changes.get("secret", subscription.secret),
    }
    errors = _subscription_errors(**merged, check_url="url" in changes)
    if errors:
        raise WebhookError(errors)
    subscription.name = merged["name"].strip()
    subscription.url = merged["url"].strip()
    subscription.events = _ordered(merged["events"])
    subscription.rotate_secret(merged["secret"], keep_old_for=secret_rotation_period())
    subscription.is_active = bool(changes.get("is_active", subscription.is_active))
    subscription.save()
    return subscription


def _subscription_errors(
    *, name: str, url: str, events: list[str], secret: str, check_url: bool = True
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "Name the subscriber, e.g. 'CI deploy hook'."
    if check_url:
        try:
            check_target(url.strip())
        except TargetRefused as error:
            errors["url"] = str(error)
    unknown = [event for event in events if event not in SUBSCRIBABLE_EVENTS]
    if unknown:
        errors["events"] = f"Unknown event {unknown[0]!r}: choose from {', '.join(SUBSCRIBABLE_EVENTS)}."
    elif not events:
        errors["events"] = f"Subscribe to at least one event: {', '.join(SUBSCRIBABLE_EVENTS)}."
    if len(secret) < MIN_SECRET_LENGTH:
        errors["secret"] = f"A secret is at least {MIN_SECRET_LENGTH} characters; leave it out to get a random one."
    return errors


def _ordered(events: list[str]) -> list[str]:
    return [event for event in SUBSCRIBABLE_EVENTS if event in set(events)]


# --- Events ----------------------------------------------------------------------------------------------


def webhook_event_emit(*, event: str, key: str, data: dict[str, Any]) -> list[WebhookDelivery]:
    """Queue ``event`` for every active subscriber of it; ``key`` names what happened, so it is sent once.

    Runs inside the caller's transaction: the deliveries exist only if what happened is committed, and
    they are sent once it is.
    """
    subscribers = [
        subscription
        for subscription in WebhookSubscription.objects.filter(is_active=True)
        if event in subscription.events
    ]
    if not subscribers:
        return []
    return _queue(event=event, key=key, data=data, subscribers=subscribers)


def webhook_ping(*, subscription: WebhookSubscription) -> WebhookDelivery:
    """Send a ``ping`` event to one subscriber now, whatever it subscribed to: a test of URL and secret."""
    event_id = uuid.uuid4()
    data = {"subscription": subscription.pk, "message": "A test delivery: your endpoint and secret work."}
    (delivery,) = _queue(
        event=WebhookEvent.PING, key=f"ping:{event_id}", data=data, subscribers=[subscription], event_id=event_id
    )
    return delivery


def _queue(
    *,
    event: str,
    key: str,
    data: dict[str, Any],
    subscribers: list[WebhookSubscription],
    event_id: uuid.UUID | None = None,
) -> list[WebhookDelivery]:
    event_id = event_id or uuid.uuid4()
    now = timezone.now()
    payload = {"id": str(event_id), "event": str(event), "created_at": now.isoformat(), "data": data}
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                subscription=subscription,
                event=event,
                event_id=event_id,
                event_key=key,
                payload=json.loads(json.dumps(payload, cls=DjangoJSONEncoder)),
                next_attempt_at=now,
            )
            for subscription in subscribers
        ],
        ignore_conflicts=True,
    )
    deliveries = list(WebhookDelivery.objects.filter(event_id=event_id, event_key=key))
    for delivery in deliveries:
        _send_later(delivery.pk, countdown=0)
    return deliveries


# --- Delivery --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptResult:
    delivery: WebhookDelivery
    attempted: bool
    retry_in: float | None


def secret_rotation_period() -> timedelta:
    """How long a replaced secret keeps signing beside the new one."""
    return timedelta(hours=float(settings.WEBHOOK_SECRET_ROTATION_HOURS))


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret: a ``whsec_`` secret's base64 bytes, any other secret's UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except ValueError:
            pass
    return secret.encode("utf-8")


def sign(*, secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` a secret."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    text = body.decode("utf-8")
    return " ".join(Webhook(signing_key(secret)).sign(msg_id, moment, text) for secret in secrets)


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: doubling from the base, capped."""
    return float(min(settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempts - 1), settings.WEBHOOK_RETRY_MAX_SECONDS))


def webhook_delivery_attempt(*, delivery_id: int) -> AttemptResult | None:
    """Make the next attempt of a pending delivery whose time has come; schedule the one after if it fails.

    The attempt is claimed with one conditional UPDATE (its due time moves past the attempt's timeout), so
    two workers handed the same message never both send it, and no lock is held while the receiver answers.
    Returns None for a delivery that is gone, ``attempted=False`` for one not pending or not yet due.
    """
    now = timezone.now()
    lease = now + timedelta(seconds=float(settings.WEBHOOK_TIMEOUT_SECONDS) + 60)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + timedelta(seconds=1))
    claimed = WebhookDelivery.objects.filter(due, pk=delivery_id, status=DeliveryStatus.PENDING).update(
        next_attempt_at=lease
    )
    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None:
        return None
    if not claimed:
        return AttemptResult(delivery=delivery, attempted=False, retry_in=None)
    status, body, error, elapsed = _post(delivery)
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_status = status
    delivery.response_body = body
    delivery.error = error
    delivery.duration_ms = elapsed
    retry_in: float | None = None
    if status is not None and 200 <= status < 300:
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.delivered_at = timezone.now()
        delivery.next_attempt_at = None
        outcome = f"delivered ({status})"
    elif not delivery.subscription.is_active or delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        why = "the subscriber is inactive" if not delivery.subscription.is_active else "no attempts left"
        outcome = f"failed: {error}; {why}"
    else:
        retry_in = retry_delay(delivery.attempts)
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=retry_in)
        outcome = f"failed: {error}; next try in {retry_in:.0f} s"
    line = f"{now.isoformat(timespec='seconds')} attempt {delivery.attempts}: {outcome} ({elapsed:.0f} ms)\n"
    delivery.attempt_log = (delivery.attempt_log + line)[-ATTEMPT_LOG_CHARS:]
    with transaction.atomic():
        delivery.save()
        if retry_in is not None:
            _send_later(delivery.pk, countdown=retry_in)
    if delivery.status == DeliveryStatus.FAILED:
        logger.warning("Webhook delivery %s to %s failed for good: %s", delivery.pk, delivery.subscription.url, error)
    return AttemptResult(delivery=delivery, attempted=True, retry_in=retry_in)


def webhook_deliveries_resend_overdue(*, now: datetime | None = None) -> int:
    """Queue again the pending deliveries long overdue: their message was lost, or their worker died mid-attempt.

    Every worker calls this now and then. A delivery queued twice is still sent once: each attempt is
    claimed first (``webhook_delivery_attempt``). Returns how many were queued.
    """
    cutoff = (now or timezone.now()) - timedelta(seconds=RESEND_AFTER_SECONDS)
    overdue = list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lt=cutoff)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:RESEND_BATCH]
    )
    for delivery_id in overdue:
        _send_later(delivery_id, countdown=0)
    return len(overdue)


def _post(delivery: WebhookDelivery) -> tuple[int | None, str, str, float]:
    """POST the payload: (status or None, the answer's start, what went wrong or "", milliseconds)."""
    subscription = delivery.subscription
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "sentiment-platform-webhooks/1",
        EVENT_HEADER: delivery.event,
        ID_HEADER: str(delivery.event_id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(
            secrets=subscription.signing_secrets(), msg_id=str(delivery.event_id), timestamp=timestamp, body=body
        ),
    }
    started = time.perf_counter()
    try:
        target = check_target(subscription.url)
    except TargetRefused as refused:
        return None, "", str(refused), 0.0
    connection = connection_to(target, timeout=float(settings.WEBHOOK_TIMEOUT_SECONDS))
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(RESPONSE_EXCERPT_CHARS).decode("utf-8", errors="replace")
        status = response.status
        error = "" if 200 <= status < 300 else f"HTTP {status} {response.reason}".strip()
        if 300 <= status < 400:
            error += " (redirects are not followed: give the final URL)"
        return status, excerpt, error, (time.perf_counter() - started) * 1000
    except (OSError, http.client.HTTPException) as failure:
        return None, "", f"{type(failure).__name__}: {failure}", (time.perf_counter() - started) * 1000
    finally:
        connection.close()


def _send_later(delivery_id: int, *, countdown: float) -> None:
    transaction.on_commit(
        lambda: broker.send_by_name(DELIVERY_TASK, args=[delivery_id], countdown=countdown, queue=DELIVERY_QUEUE)
    )
