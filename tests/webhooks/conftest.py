"""A webhook receiver on loopback that records what it is sent and answers what a test tells it to."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from apps.webhooks.models import WebhookSubscription
from tests.brokering import stand_in_for_task

SECRET = "a-webhook-secret-of-some-length"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    # Status codes to answer, in order; 200 once they run out. A float is seconds to stall first.
    answers: list[int | tuple[float, int]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(Received(path=self.path, headers=dict(self.headers), body=body))
            answer = state.answers.pop(0) if state.answers else 200
            if isinstance(answer, tuple):
                time.sleep(answer[0])
                answer = answer[1]
            self.send_response(answer)
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/sentiment?team=ml"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def subscription(receiver: Receiver, db: None) -> WebhookSubscription:
    return WebhookSubscription.objects.create(
        name="receiver",
        url=receiver.url,
        secret=SECRET,
        events=["training_run.finished", "evaluation_run.finished", "model_version.promoted", "import.finished"],
    )


@pytest.fixture
def sent_tasks(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Delivery tasks sent to the broker (as Task.apply_async takes them), instead of sending them."""
    calls: list[dict[str, Any]] = []
    stand_in_for_task(monkeypatch, "webhooks.deliver", lambda **kwargs: calls.append(kwargs))
    return calls
