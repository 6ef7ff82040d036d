"""Standing in for the broker: the messages of one task go to a test's function instead of being sent.

Every message leaves through ``apps.common.broker.send_by_name``, so that is the one thing replaced.
The stand-in gets the message as ``Task.apply_async`` would take it: ``args`` and ``queue``, and
``kwargs``, ``countdown`` and ``task_id`` when the sender gave them. The messages of other tasks are
sent as before, and several stand-ins (one per task) may be in place at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from apps.common import broker


def stand_in_for_task(monkeypatch: pytest.MonkeyPatch, task_name: str, stand_in: Callable[..., Any]) -> None:
    """Until the test ends, a message for the task named ``task_name`` calls ``stand_in(**options)`` instead."""
    previous = broker.send_by_name

    def send_by_name(
        name: str,
        *,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        queue: str,
        countdown: float | None = None,
        task_id: str | None = None,
    ) -> None:
        if name != task_name:
            previous(name, args=args, kwargs=kwargs, queue=queue, countdown=countdown, task_id=task_id)
            return
        options: dict[str, Any] = {"args": list(args), "queue": queue}
        if kwargs is not None:
            options["kwargs"] = kwargs
        if countdown is not None:
            options["countdown"] = countdown
        if task_id is not None:
            options["task_id"] = task_id
        stand_in(**options)

    monkeypatch.setattr(broker, "send_by_name", send_by_name)
