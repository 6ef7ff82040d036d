"""The broker as the job mechanism sees it: is it reachable, send a job's message, which messages wait there.

Job rows are the source of truth (the transactional outbox): a message only says "look at job N". So a
lost message is repaired by sending it again, and a duplicate is harmless because a worker claims the
row under a lock before it runs anything.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

# Seconds a client is told to wait before trying again while the broker or the database is down.
RETRY_AFTER_SECONDS = 10
# The most waiting messages read per queue when looking for lost ones; job queues stay far below it.
INSPECT_LIMIT = 20_000


class BrokerUnavailable(Exception):
    """The message broker cannot be reached; nothing was queued."""


def _app() -> Any:
    from sentimentsite.celery import app

    return app


def transient_broker_errors() -> tuple[type[BaseException], ...]:
    """What a send raises while the broker is down (kombu's and the transports' own connection errors)."""
    from kombu.exceptions import OperationalError as KombuOperationalError

    errors: list[type[BaseException]] = [KombuOperationalError, ConnectionError, OSError, TimeoutError]
    try:
        import redis.exceptions

        errors += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    except ImportError:  # the redis client is only there with the redis extra
        pass
    return tuple(errors)


def ensure_broker() -> None:
    """Raise ``BrokerUnavailable`` unless the broker answers now (a fresh connection, so no stale pool hides it).

    Called before a job row is written, so a caller told "unavailable" has left nothing behind. Tasks that
    run eagerly (CELERY_TASK_ALWAYS_EAGER) need no broker.
    """
    app = _app()
    if app.conf.task_always_eager:
        return
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=3)
            # The redis transport checks the server when its first channel opens.
            connection.default_channel  # noqa: B018
    except transient_broker_errors() as error:
        raise BrokerUnavailable(
            f"The task broker ({_broker_name()}) cannot be reached ({error.__class__.__name__}); nothing was queued. "
            f"Try again in {RETRY_AFTER_SECONDS} s."
        ) from error


def send(task_name: str, *, job_id: int, queue: str, task_id: str) -> None:
    """Send the message of job ``job_id``; raises one of ``transient_broker_errors()`` when the broker is down."""
    send_by_name(task_name, args=[job_id], queue=queue, task_id=task_id)


def send_by_name(
    task_name: str,
    *,
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
    queue: str,
    countdown: float | None = None,
    task_id: str | None = None,
) -> None:
    """Send a message for the task registered as ``task_name`` (the web process never imports the tasks).

    The one way any code sends a message, so tests stand in for the broker by replacing this function.
    Tasks that run eagerly (CELERY_TASK_ALWAYS_EAGER) are looked up and run in this process, since
    ``send_task`` does not run them.
    """
    app = _app()
    options: dict[str, Any] = {"queue": queue}
    if countdown is not None:
        options["countdown"] = countdown
    if task_id is not None:
        options["task_id"] = task_id
    if app.conf.task_always_eager:
        if task_name not in app.tasks:
            # Registers the tasks (the worker's autodiscovery), once per process: loading them again would
            # set Django up anew, checks and logging included, on every message.
            app.loader.import_default_modules()
        app.tasks[task_name].apply_async(args=list(args), kwargs=kwargs, **options)
        return
    app.send_task(task_name, args=list(args), kwargs=kwargs, **options)


def task_ids_waiting(queues: Iterable[str]) -> set[str] | None:
    """The task ids of the messages waiting in ``queues`` or handed to a worker and not yet acknowledged.

    None when the transport cannot tell (only Redis is inspected); the caller then re-sends nothing that
    was sent once. Reads the queues' lists and kombu's ``unacked`` hash, which hold whole messages.
    """
    app = _app()
    if app.conf.task_always_eager or not str(app.conf.broker_url or "").startswith(("redis://", "rediss://")):
        return None
    found: set[str] = set()
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        client = channel.client
        for queue in queues:
            for priority in channel.priority_steps:
                for raw in client.lrange(channel._q_for_pri(queue, priority), 0, INSPECT_LIMIT):
                    found.update(_task_id(raw))
        for raw in client.hvals(channel.unacked_key):
            # An unacknowledged entry is [message, exchange, routing key].
            try:
                found.update(_task_id(json.dumps(json.loads(raw)[0])))
            except (ValueError, IndexError, TypeError):
                continue
    return found


def _task_id(raw: bytes | str) -> set[str]:
    try:
        message = json.loads(raw)
    except ValueError:
        return set()
    task_id = (message.get("headers") or {}).get("id") if isinstance(message, dict) else None
    return {task_id} if task_id else set()


def _broker_name() -> str:
    url = str(settings.CELERY_BROKER_URL)
    scheme, _, rest = url.partition("://")
    host = rest.rsplit("@", 1)[-1].split("/", 1)[0]
    return f"{scheme} at {host}" if host else scheme
